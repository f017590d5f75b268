/**
 * The soak's answer ledger: did every request get exactly one answer? (docs/reliability.md
 * "Soak", the accounting rules.)
 *
 * One {@link SessionBook} per session records each request by its index (PROTOCOL.md 8)
 * and each answer the gateway sent for an index: the reply Packet with that index, or
 * ServerUnexpectedErr with that index (PROTOCOL.md 8: the gateway could not deliver it).
 * When the session ends, what is still outstanding is settled by how it ended:
 *
 * - ServerLogout (any code): the requests in flight are **answered by the logout**. PROTOCOL.md 9:
 *   the player stream ending ends the connection with ServerLogout Waiting, so a backend
 *   restart legitimately leaves requests without a reply of their own. Codes other than
 *   Waiting are counted apart (`logouts`), a soak expects none.
 * - the client cut the connection itself (abrupt disconnect, RST): **abandoned**.
 *
 * Before that, ServerUnexpectedErr with index 0 (PROTOCOL.md 9: an object stream that
 * failed, carrying the mod and seq of its last request) **answers by stream error** every
 * request of that mod still in flight: the stream that would have answered them is gone.
 * (A soak session talks to one object per object module, its room.)
 * - anything else (our graceful close after the drain timeout, or the gateway closing
 *   without a ServerLogout): **lost**.
 *
 * An answer for an index already answered is a **duplicate**; an answer for an index never
 * sent is **stray**. The same rules cover the sender's own copy of a room chat Message
 * push (docs/demo.md: the sender gets its reply first, then its copy of the push).
 * Pure bookkeeping: no sockets, no timers.
 */

/** Totals over every session of a run. All counts. */
export interface LedgerTotals {
  /** Requests sent after login (the CSAuth is not counted). */
  sent: number;
  /** Requests answered by their own reply Packet. */
  replied: number;
  /** Requests answered by ServerUnexpectedErr with their index. */
  unexpectedErr: number;
  /** Requests in flight when a ServerLogout ended their session. */
  answeredByLogout: number;
  /** Requests in flight on an object stream that failed (ServerUnexpectedErr with index 0 for their mod). */
  answeredByStreamError: number;
  /** Requests in flight when the client cut its own connection. */
  abandoned: number;
  /** Requests whose session ended otherwise with no answer. Must be 0. */
  lost: number;
  /** Second (or later) answers for one index. Must be 0. */
  duplicated: number;
  /** Answers for an index the session never sent. Must be 0. */
  stray: number;
  /** Replies whose mod/seq differ from the request's, or Echo replies with other data. Must be 0. */
  mismatched: number;
  /** Own chat Message pushes expected (a Say that got its reply). */
  ownPushesExpected: number;
  /** ... that arrived once. */
  ownPushesDelivered: number;
  /** ... still due when a ServerLogout ended the session. */
  ownPushesByLogout: number;
  /** ... still due when the client cut its own connection. */
  ownPushesAbandoned: number;
  /** ... still due when the room stream failed. */
  ownPushesByStreamError: number;
  /** ... never delivered otherwise. Must be 0. */
  ownPushesLost: number;
  /** Own Message pushes seen twice, or for a Say never answered. Must be 0. */
  ownPushesDuplicated: number;
  /** ServerLogouts by code name (SCServerLogout code number as the key). */
  logouts: Record<string, number>;
  /** Sessions ended by the gateway without a ServerLogout (no client close first). */
  unexplainedCloses: number;
}

/** A fresh set of zero totals. */
export function emptyTotals(): LedgerTotals {
  return {
    sent: 0,
    replied: 0,
    unexpectedErr: 0,
    answeredByLogout: 0,
    answeredByStreamError: 0,
    abandoned: 0,
    lost: 0,
    duplicated: 0,
    stray: 0,
    mismatched: 0,
    ownPushesExpected: 0,
    ownPushesDelivered: 0,
    ownPushesByLogout: 0,
    ownPushesAbandoned: 0,
    ownPushesByStreamError: 0,
    ownPushesLost: 0,
    ownPushesDuplicated: 0,
    logouts: {},
    unexplainedCloses: 0,
  };
}

/** How a session ended, for settling what is outstanding. */
export type SessionEnding =
  /** A ServerLogout arrived with this SCServerLogout code. */
  | { kind: 'logout'; code: number }
  /** The client destroyed its socket (abrupt disconnect). */
  | { kind: 'abandoned' }
  /** The client closed gracefully, or the gateway closed with no ServerLogout (`byGateway`). */
  | { kind: 'closed'; byGateway: boolean };

/** One outstanding request. */
interface Outstanding {
  mod: number;
  seq: number;
  /** Echo data the reply must carry, or null when any data is fine. */
  expect: Uint8Array | null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** What one answer turned out to be. */
export type AnswerVerdict = 'answered' | 'duplicate' | 'stray';

/** The ledger of one session. Indices are the session's client Packet indices. */
export class SessionBook {
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly answered = new Set<number>();
  private readonly ownPushesDue = new Set<string>();
  private readonly ownPushesSeen = new Set<string>();
  private lowest = Infinity;
  private highest = -Infinity;
  private settled = false;

  constructor(private readonly totals: LedgerTotals) {}

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.outstanding.size;
  }

  /** True while the request with `index` is in flight. */
  isInFlight(index: number): boolean {
    return this.outstanding.has(index);
  }

  /** Own chat pushes due and not seen yet. */
  get pushesDue(): number {
    return this.ownPushesDue.size;
  }

  /** Records a request sent with `index`; `expect` is the data an Echo reply must carry. */
  sent(index: number, mod: number, seq: number, expect: Uint8Array | null = null): void {
    this.outstanding.set(index, { mod, seq, expect });
    if (index < this.lowest) this.lowest = index;
    if (index > this.highest) this.highest = index;
    this.totals.sent++;
  }

  private take(index: number): Outstanding | AnswerVerdict {
    const o = this.outstanding.get(index);
    if (o) {
      this.outstanding.delete(index);
      this.answered.add(index);
      return o;
    }
    if (this.answered.has(index) || (index >= this.lowest && index <= this.highest)) {
      this.totals.duplicated++;
      return 'duplicate';
    }
    this.totals.stray++;
    return 'stray';
  }

  /** Records a reply Packet (mod, seq, data) carrying `index`. */
  reply(index: number, mod: number, seq: number, data: Uint8Array): AnswerVerdict {
    const o = this.take(index);
    if (typeof o === 'string') return o;
    this.totals.replied++;
    if (o.mod !== mod || o.seq !== seq || (o.expect !== null && !sameBytes(o.expect, data))) this.totals.mismatched++;
    return 'answered';
  }

  /** Records ServerUnexpectedErr carrying `index`. */
  unexpectedErr(index: number): AnswerVerdict {
    const o = this.take(index);
    if (typeof o === 'string') return o;
    this.totals.unexpectedErr++;
    return 'answered';
  }

  /**
   * An object stream of module `mod` failed (ServerUnexpectedErr, index 0): the requests
   * of that mod in flight are answered by it, and own pushes due are void.
   */
  objectStreamFailed(mod: number): void {
    for (const [index, o] of this.outstanding) {
      if (o.mod !== mod) continue;
      this.outstanding.delete(index);
      this.answered.add(index);
      this.totals.answeredByStreamError++;
    }
    this.totals.ownPushesByStreamError += this.ownPushesDue.size;
    this.ownPushesDue.clear();
  }

  /** A Say with chat text `text` got its reply: its own Message push is now due. */
  ownPushDue(text: string): void {
    this.ownPushesDue.add(text);
    this.totals.ownPushesExpected++;
  }

  /** The session's own Message push with `text` arrived. */
  ownPush(text: string): AnswerVerdict {
    if (this.ownPushesDue.delete(text)) {
      this.ownPushesSeen.add(text);
      this.totals.ownPushesDelivered++;
      return 'answered';
    }
    this.totals.ownPushesDuplicated++;
    return this.ownPushesSeen.has(text) ? 'duplicate' : 'stray';
  }

  /** Settles everything outstanding by how the session ended. Idempotent: only the first call counts. */
  end(how: SessionEnding): void {
    if (this.settled) return;
    this.settled = true;
    const n = this.outstanding.size;
    const pushes = this.ownPushesDue.size;
    this.outstanding.clear();
    this.ownPushesDue.clear();
    if (how.kind === 'logout') {
      this.totals.answeredByLogout += n;
      this.totals.ownPushesByLogout += pushes;
      const key = String(how.code);
      this.totals.logouts[key] = (this.totals.logouts[key] ?? 0) + 1;
    } else if (how.kind === 'abandoned') {
      this.totals.abandoned += n;
      this.totals.ownPushesAbandoned += pushes;
    } else {
      this.totals.lost += n;
      this.totals.ownPushesLost += pushes;
      if (how.byGateway) this.totals.unexplainedCloses++;
    }
  }
}

/**
 * The invariant a soak checks: every request sent got exactly one answer (its reply,
 * ServerUnexpectedErr, or the ServerLogout that ended its session) unless the client
 * abandoned it; the same for own chat pushes. Returns the violations, empty when it holds.
 */
export function ledgerViolations(t: LedgerTotals): string[] {
  const out: string[] = [];
  const accounted = t.replied + t.unexpectedErr + t.answeredByLogout + t.answeredByStreamError + t.abandoned + t.lost;
  if (accounted !== t.sent) out.push(`${t.sent} requests sent but ${accounted} settled (${t.sent - accounted} still open)`);
  for (const k of ['lost', 'duplicated', 'stray', 'mismatched', 'ownPushesLost', 'ownPushesDuplicated', 'unexplainedCloses'] as const) {
    if (t[k] !== 0) out.push(`${k} = ${t[k]}`);
  }
  return out;
}
