/**
 * The client's session logic (PROTOCOL.md 4, 7, 8), shared by the Node and the browser
 * entry, on top of a {@link Link}: requests matched to replies by index, heartbeats and
 * their round-trip time, pushes, ServerLogout, the connection state and the reconnect loop
 * (policy in reconnect.ts). What differs between Node and a browser comes in through the
 * {@link Platform} the entry passes (platform.ts).
 *
 * Lifecycle: open -> (reconnecting -> connecting -> open)* -> closed. `'close'` is emitted
 * exactly once, when the client is done for good; a drop that will be retried emits
 * `'reconnecting'` instead. `'state'` reports every step, for a UI.
 */
import { EventEmitter } from 'eventemitter3';
import {
  CSHeartbeatSchema,
  decodeMessage,
  encodeMessage,
  ErrorCode,
  isJanusError,
  JanusError,
  MOD_SYSTEM,
  SCHeartbeatSchema,
  SCServerLogout_Code,
  SCServerLogoutSchema,
  SCServerUnexpectedErrSchema,
  SystemSeq,
  type Packet,
  type SCHeartbeat_Code,
} from '@janus/protocol';
import type { Link, LinkClose, OutgoingPacket, Session } from './link.js';
import { login } from './login.js';
import { resolveOptions, type ClientOptions, type ResolvedOptions } from './options.js';
import type { Platform } from './platform.js';
import { isFinalLogout, reconnectDelay } from './reconnect.js';
import { unrefTimeout, type Timer } from './timers.js';

/** Why the client closed: `'close'` event payload. */
export type CloseReason =
  /** The gateway sent ServerLogout; `name` is the code's name (e.g. `'ConflictingLogin'`). */
  | { kind: 'logout'; code: SCServerLogout_Code; name: string }
  /** The transport closed without a ServerLogout, or close() was called (no `error`). */
  | { kind: 'closed'; error?: JanusError; wsCode?: number };

/** Per-request Packet fields besides mod, seq and data. */
export interface RequestOptions {
  /** int64 object id; 0n (default) = my own uid. */
  obj?: bigint;
  /** int32 message protocol version; 0 (default) = none. */
  ver?: number;
  /** uint64 data version; 0n (default) = none. */
  dataVersion?: bigint;
}

/** `'serverError'` event payload: an object stream failed (SCServerUnexpectedErr with index 0). */
export interface ServerErrorEvent {
  mod: number;
  seq: number;
  msg: string;
}

/** `'reconnecting'` event payload. */
export interface ReconnectingEvent {
  /** 1-based attempt number. */
  attempt: number;
  /** Wait before this attempt (ms). */
  delayMs: number;
  /** Why the previous connection (or attempt) ended. */
  reason: CloseReason;
}

/** What heartbeat() resolves with (SCHeartbeat), and the `'heartbeat'` event payload. */
export interface HeartbeatReply {
  /** The gateway's clock (unix seconds). */
  serverTime: bigint;
  /** 1 Succeeded, 2 ErrTime (|client_time - server time| > 10 s), 0 ErrServer. */
  code: SCHeartbeat_Code;
  /** Round-trip time (ms): from queueing the CSHeartbeat to its SCHeartbeat, sealing and opening included. */
  rttMs: number;
}

/** The connection states a UI can show (see {@link StateChange}). */
export type ConnectionState = 'open' | 'reconnecting' | 'connecting' | 'closed';

/** `'state'` event payload: the new state and what goes with it. */
export type StateChange =
  /** A session is open (the first one, or after a reconnect). */
  | { state: 'open'; session: Session }
  /** The connection dropped and attempt `attempt` starts in `delayMs` ms (backoff with jitter). */
  | { state: 'reconnecting'; attempt: number; delayMs: number; reason: CloseReason }
  /** Reconnect attempt `attempt` is connecting, handshaking and authenticating. */
  | { state: 'connecting'; attempt: number }
  /** Done for good: the same reason as the `'close'` event. */
  | { state: 'closed'; reason: CloseReason };

/**
 * The events of a client and their arguments:
 * - `push` `(p: Packet)`: a Packet with index 0 and mod != 1 (data already inflated);
 * - `serverError` `(e: ServerErrorEvent)`: SCServerUnexpectedErr with index 0;
 * - `heartbeat` `(h: HeartbeatReply)`: every SCHeartbeat, with its round-trip time;
 * - `state` `(s: StateChange)`: every change of {@link JanusClientBase.state};
 * - `reconnecting` `(e: ReconnectingEvent)`: before each reconnect attempt;
 * - `reconnect` `(s: Session)`: a new session is open (indices start over);
 * - `close` `(r: CloseReason)`: once, when the client is done.
 */
export interface ClientEvents {
  push: [p: Packet];
  serverError: [e: ServerErrorEvent];
  heartbeat: [h: HeartbeatReply];
  state: [s: StateChange];
  reconnecting: [e: ReconnectingEvent];
  reconnect: [s: Session];
  close: [r: CloseReason];
}

/** A request waiting for its reply. */
interface Pending {
  reply(p: Packet): void;
  fail(err: JanusError): void;
  /** No reply by then (performance.now() ms): rejected with JANUS_ERR_REQUEST_TIMEOUT. */
  deadline: number;
  timeout(): void;
}

type State = 'open' | 'reconnecting' | 'closed';

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function argError(message: string): JanusError {
  return new JanusError(ErrorCode.ArgInvalid, message);
}

function checkInt32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw argError(`${name} must be an int32, got ${v}`);
}

function logoutReason(code: SCServerLogout_Code): CloseReason {
  return { kind: 'logout', code, name: SCServerLogout_Code[code] ?? String(code) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    // Not unref'd: a client waiting to reconnect keeps a Node process alive.
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A Janus client session over TCP or WebSocket: what both entries' `JanusClient` share
 * (each entry adds `static connect` with its platform). Events: {@link ClientEvents}.
 *
 * Events of the first session are held until the task after connect() resolves, so
 * listeners attached right after `await JanusClient.connect()` miss nothing.
 */
export class JanusClientBase extends EventEmitter<ClientEvents> {
  private phase: State = 'open';
  /** What {@link state} reports (finer than `phase`: a reconnect waits, then connects). */
  private shown: ConnectionState = 'open';
  private link: Link | null = null;
  private current: Session;
  private rtt: number | null = null;
  private readonly pending = new Map<number, Pending>();
  private heartbeatTimer: Timer | undefined;
  /** The request-timeout timer (see armTimeouts). */
  private timeoutTimer: Timer | undefined;
  /** Seconds to add to `now()`; learned from a ClockSkew ServerLogout's server_time. */
  private clockOffset = 0;
  private reconnectAbort: AbortController | null = null;
  private closePromise: Promise<void> | null = null;
  /** Events held until listeners can be attached (see class doc). */
  private gate: Array<[keyof ClientEvents, unknown]> | null = [];

  /**
   * What an entry's `connect` runs: validates the options against `platform`, connects,
   * handshakes and authenticates (PROTOCOL.md 7), then builds the client with `make`.
   * Errors: see the entries' `JanusClient.connect`.
   */
  protected static async open<T extends JanusClientBase>(
    opts: ClientOptions,
    platform: Platform,
    make: (o: ResolvedOptions, session: Session) => T,
  ): Promise<T> {
    const o = await resolveOptions(opts, platform);
    const { link, session } = await login(o, { clockOffset: 0 });
    const client = make(o, session);
    client.attach(link, session);
    platform.defer(() => client.openGate());
    return client;
  }

  protected constructor(
    private readonly o: ResolvedOptions,
    session: Session,
  ) {
    super();
    this.current = session;
  }

  /** The current session; replaced on reconnect. */
  get session(): Session {
    return this.current;
  }

  /** True once the client is done (after `'close'`, or from the moment close() is called). */
  get closed(): boolean {
    return this.phase === 'closed';
  }

  /**
   * The connection state: `'open'`; `'reconnecting'` (waiting out a backoff delay) and
   * `'connecting'` (an attempt under way) while a dropped connection is retried;
   * `'closed'`. Every change is a `'state'` event.
   */
  get state(): ConnectionState {
    return this.phase === 'closed' ? 'closed' : this.shown;
  }

  /** The round-trip time of the latest answered heartbeat (ms), null before the first. */
  get rttMs(): number | null {
    return this.rtt;
  }

  /** The crypto back end in use (`'node'`, `'webcrypto'`, `'noble'`, or a custom one's name). */
  get cryptoName(): string {
    return this.o.crypto.name;
  }

  /**
   * Sends `Packet{mod, seq, data, ...}` with the next index; resolves with the reply Packet
   * (the one carrying this index; data inflated).
   * @param mod int32 module id, not 1 (the System module is the SDK's own).
   * @throws JanusError JANUS_ERR_SERVER_UNEXPECTED (details `mod`, `seq`, `msg`) when the
   *   gateway answered ServerUnexpectedErr; JANUS_ERR_REQUEST_TIMEOUT after requestTimeoutMs;
   *   JANUS_ERR_CONNECTION_CLOSED when not connected or the connection ends first (details
   *   `logoutCode` after a ServerLogout); JANUS_ERR_FRAME_TOO_LARGE when the body would pass
   *   maxFrameBytes; JANUS_ERR_ARG_INVALID for a bad argument.
   */
  request(mod: number, seq: number, data?: Uint8Array, opts: RequestOptions = {}): Promise<Packet> {
    try {
      checkInt32('mod', mod);
      checkInt32('seq', seq);
      if (mod === MOD_SYSTEM) throw argError('mod 1 is the System module: use heartbeat()');
      if (data !== undefined && !(data instanceof Uint8Array)) throw argError('data must be a Uint8Array');
      if (opts.ver !== undefined) checkInt32('ver', opts.ver);
      if (opts.obj !== undefined && (typeof opts.obj !== 'bigint' || opts.obj < -(2n ** 63n) || opts.obj >= 2n ** 63n)) {
        throw argError('obj must be an int64 bigint');
      }
      if (opts.dataVersion !== undefined && (typeof opts.dataVersion !== 'bigint' || opts.dataVersion < 0n || opts.dataVersion >= 2n ** 64n)) {
        throw argError('dataVersion must be a uint64 bigint');
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track({ mod, seq, data, obj: opts.obj, ver: opts.ver, dataVersion: opts.dataVersion }, (p, resolve) => resolve(p));
  }

  /**
   * Sends CSHeartbeat{client_time} now, with the next index (PROTOCOL.md 8).
   * @throws JanusError JANUS_ERR_REQUEST_TIMEOUT, JANUS_ERR_CONNECTION_CLOSED.
   */
  heartbeat(): Promise<HeartbeatReply> {
    const clientTime = BigInt(Math.floor(this.o.now() + this.clockOffset));
    const out = { mod: MOD_SYSTEM, seq: SystemSeq.HEARTBEAT, data: encodeMessage(CSHeartbeatSchema, { clientTime }) };
    const sentAt = performance.now();
    return this.track<HeartbeatReply>(out, (p, resolve) => {
      const h = decodeMessage(SCHeartbeatSchema, p.data);
      const reply: HeartbeatReply = { serverTime: h.serverTime, code: h.code, rttMs: performance.now() - sentAt };
      this.rtt = reply.rttMs;
      resolve(reply);
      this.emitEvent('heartbeat', reply);
    });
  }

  /**
   * Graceful close: rejects pending requests (JANUS_ERR_CONNECTION_CLOSED), ends the
   * transport (TCP end / WebSocket close 1000) or stops a reconnect in progress, emits
   * `'close'` `{ kind: 'closed' }`. Idempotent; resolves when the transport has closed.
   */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.phase === 'closed') return (this.closePromise = Promise.resolve());
    this.phase = 'closed';
    const closed = new JanusError(ErrorCode.ConnectionClosed, 'client closed');
    this.reconnectAbort?.abort(closed);
    const link = this.detach(closed);
    this.closePromise = (link ? link.close() : Promise.resolve()).then(() => this.announceClose({ kind: 'closed' }));
    return this.closePromise;
  }

  // ---------------------------------------------------------------------------------
  // Requests

  /** Sends `out` and registers a pending entry under its index until reply, error or timeout. */
  private track<T>(out: OutgoingPacket, onReply: (p: Packet, resolve: (v: T) => void) => void): Promise<T> {
    const link = this.link;
    if (this.phase !== 'open' || !link) {
      return Promise.reject(new JanusError(ErrorCode.ConnectionClosed, `not connected (${this.shown})`));
    }
    return new Promise<T>((resolve, reject) => {
      let index = 0;
      const timeoutMs = this.o.requestTimeoutMs;
      const entry: Pending = {
        deadline: performance.now() + timeoutMs,
        reply: (p) => {
          try {
            onReply(p, resolve);
          } catch (err) {
            reject(err);
          }
        },
        fail: reject,
        timeout: () =>
          reject(
            new JanusError(ErrorCode.RequestTimeout, `no reply to mod ${out.mod} seq ${out.seq} within ${timeoutMs} ms`, {
              mod: out.mod,
              seq: out.seq,
              index,
              timeoutMs,
            }),
          ),
      };
      link
        .send(out, (i) => {
          index = i;
          this.pending.set(i, entry);
          this.armTimeouts();
        })
        .catch((err: JanusError) => {
          if (index !== 0 && this.pending.get(index) === entry) this.pending.delete(index);
          entry.fail(err);
        });
    });
  }

  /**
   * One timer for every pending request instead of one each: it is armed for the oldest
   * (pending requests are kept in index order, which is deadline order) and, when it fires,
   * rejects every request past its deadline and re-arms for the next.
   */
  private armTimeouts(): void {
    if (this.timeoutTimer !== undefined || this.pending.size === 0) return;
    const oldest = this.pending.values().next().value as Pending;
    this.timeoutTimer = unrefTimeout(this.sweepTimeouts, Math.max(0, oldest.deadline - performance.now()));
  }

  private readonly sweepTimeouts = (): void => {
    this.timeoutTimer = undefined;
    const now = performance.now();
    for (const [index, entry] of this.pending) {
      if (entry.deadline > now) break;
      this.pending.delete(index);
      entry.timeout();
    }
    this.armTimeouts();
  };

  /** Hands a reply or error to the request with `index`; late replies (after a timeout) are dropped. */
  private settle(index: number, act: (p: Pending) => void): void {
    const entry = this.pending.get(index);
    if (!entry) return;
    this.pending.delete(index);
    act(entry);
  }

  // ---------------------------------------------------------------------------------
  // Incoming Packets

  private onPacket(link: Link, p: Packet): void {
    if (link !== this.link) return;
    if (p.mod !== MOD_SYSTEM) {
      if (p.index === 0) this.emitEvent('push', p);
      else this.settle(p.index, (e) => e.reply(p));
      return;
    }
    switch (p.seq) {
      case SystemSeq.SERVER_LOGOUT:
        return this.onLogout(decodeMessage(SCServerLogoutSchema, p.data));
      case SystemSeq.SERVER_UNEXPECTED_ERR: {
        const e = decodeMessage(SCServerUnexpectedErrSchema, p.data);
        const ev: ServerErrorEvent = { mod: e.mod, seq: e.seq, msg: e.msg };
        if (p.index === 0) return this.emitEvent('serverError', ev);
        const err = new JanusError(ErrorCode.ServerUnexpected, `gateway could not deliver mod ${e.mod} seq ${e.seq}: ${e.msg}`, { ...ev });
        return this.settle(p.index, (entry) => entry.fail(err));
      }
      case SystemSeq.HEARTBEAT:
        return this.settle(p.index, (e) => e.reply(p));
      default:
        // Another System message (a second SCAuth, a future seq): nothing to do with it.
        this.o.platform.trace('ignored System Packet seq %d index %d', p.seq, p.index);
    }
  }

  private onLogout(lo: { code: SCServerLogout_Code; serverTime: bigint }): void {
    this.o.platform.trace('ServerLogout %s server_time %s', SCServerLogout_Code[lo.code], lo.serverTime);
    if (lo.code === SCServerLogout_Code.ClockSkew) this.clockOffset = Number(lo.serverTime) - this.o.now();
    const link = this.detach(
      new JanusError(ErrorCode.ConnectionClosed, `gateway ended the session: ServerLogout ${SCServerLogout_Code[lo.code] ?? lo.code}`, {
        logoutCode: lo.code,
      }),
    );
    void link?.close();
    this.afterDrop(logoutReason(lo.code));
  }

  private onLinkClose(link: Link, info: LinkClose): void {
    if (link !== this.link) return;
    this.o.platform.trace('connection closed: %s ws %s', info.error?.code ?? 'orderly', info.wsCode ?? '-');
    const details: Record<string, unknown> = info.wsCode === undefined ? {} : { wsCode: info.wsCode };
    this.detach(new JanusError(ErrorCode.ConnectionClosed, info.error ? `connection closed: ${info.error.message}` : 'connection closed', details, { cause: info.error }));
    const reason: CloseReason = { kind: 'closed' };
    if (info.error) reason.error = info.error;
    if (info.wsCode !== undefined) reason.wsCode = info.wsCode;
    this.afterDrop(reason);
  }

  // ---------------------------------------------------------------------------------
  // Connection lifecycle

  /** Makes `link` current and starts taking its Packets. */
  private attach(link: Link, session: Session): void {
    this.link = link;
    this.current = session;
    this.phase = 'open';
    this.show({ state: 'open', session });
    link.setReceiver({ packet: (p) => this.onPacket(link, p), close: (info) => this.onLinkClose(link, info) });
    if (this.link === link) this.scheduleHeartbeat(link);
  }

  /** Forgets the current link: stops its heartbeat and rejects its pending requests with `err`. */
  private detach(err: JanusError): Link | null {
    const link = this.link;
    this.link = null;
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.fail(err);
    return link;
  }

  /** After a drop: reconnect when the policy allows, else close for good. */
  private afterDrop(reason: CloseReason): void {
    if (this.phase === 'closed') return;
    const policy = this.o.reconnect;
    const final = reason.kind === 'logout' && isFinalLogout(reason.code);
    if (policy && policy.retries > 0 && !final) void this.reconnectLoop(reason);
    else this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closePromise = Promise.resolve();
    this.announceClose(reason);
  }

  /** `'state'` closed, then `'close'`. */
  private announceClose(reason: CloseReason): void {
    this.show({ state: 'closed', reason });
    this.emitEvent('close', reason);
  }

  /** Records and emits a state change. */
  private show(change: StateChange): void {
    this.shown = change.state;
    this.emitEvent('state', change);
  }

  private async reconnectLoop(first: CloseReason): Promise<void> {
    this.phase = 'reconnecting';
    const policy = this.o.reconnect!;
    let last = first;
    for (let attempt = 1; attempt <= policy.retries; attempt++) {
      const delayMs = reconnectDelay(policy, attempt, last.kind === 'logout' ? last.code : undefined);
      this.emitEvent('reconnecting', { attempt, delayMs, reason: last } satisfies ReconnectingEvent);
      this.show({ state: 'reconnecting', attempt, delayMs, reason: last });
      const abort = new AbortController();
      this.reconnectAbort = abort;
      try {
        await sleep(delayMs, abort.signal);
        if (this.phase === 'reconnecting') this.show({ state: 'connecting', attempt });
        const { link, session } = await login(this.o, { clockOffset: this.clockOffset, signal: abort.signal });
        if (this.phase !== 'reconnecting') {
          void link.close();
          return;
        }
        this.reconnectAbort = null;
        this.o.platform.trace('reconnected after %d attempt(s)', attempt);
        this.link = link;
        this.current = session;
        this.phase = 'open';
        // 'reconnect' before the new session's Packets, so its listeners see them in order.
        this.emitEvent('reconnect', session);
        if (this.link === link) this.attach(link, session);
        return;
      } catch (err) {
        if (this.phase !== 'reconnecting') return; // close() stopped us; it emits 'close'
        const e = isJanusError(err) ? err : new JanusError(ErrorCode.ConnectionClosed, String(err));
        if (e.code === ErrorCode.Logout) {
          const code = e.details.logoutCode as SCServerLogout_Code;
          if (code === SCServerLogout_Code.ClockSkew && typeof e.details.serverTime === 'bigint') {
            this.clockOffset = Number(e.details.serverTime) - this.o.now();
          }
          last = logoutReason(code);
          if (isFinalLogout(code)) break;
        } else {
          last = { kind: 'closed', error: e };
        }
        this.o.platform.trace('reconnect attempt %d failed: %s', attempt, e.message);
      }
    }
    this.reconnectAbort = null;
    this.finish(last);
  }

  // ---------------------------------------------------------------------------------
  // Heartbeat

  /** Arms the timer for when `heartbeatIntervalMs` will have passed since the last send. */
  private scheduleHeartbeat(link: Link): void {
    clearTimeout(this.heartbeatTimer);
    const due = link.lastSendAt + this.o.heartbeatIntervalMs - performance.now();
    this.heartbeatTimer = unrefTimeout(() => this.onHeartbeatTimer(link), Math.max(0, due));
  }

  private onHeartbeatTimer(link: Link): void {
    if (link !== this.link) return;
    if (performance.now() - link.lastSendAt >= this.o.heartbeatIntervalMs) {
      this.heartbeat().catch((err: unknown) => {
        // Why: an unanswered heartbeat means a dead link (docs/protocol.md, *Advice*); cutting
        // it lets the reconnect policy act instead of waiting for TCP to notice.
        if (isJanusError(err, ErrorCode.RequestTimeout) && link === this.link) {
          link.destroy(new JanusError(ErrorCode.RequestTimeout, `heartbeat unanswered within ${this.o.requestTimeoutMs} ms`));
        }
      });
    }
    this.scheduleHeartbeat(link);
  }

  // ---------------------------------------------------------------------------------
  // Events

  private emitEvent<K extends keyof ClientEvents>(name: K, arg: ClientEvents[K][0]): void {
    if (this.gate) {
      this.gate.push([name, arg]);
      return;
    }
    try {
      (this.emit as (n: string, a: unknown) => boolean)(name, arg);
    } catch (err) {
      // A listener threw: surface it like any listener error (an uncaught exception in Node,
      // an error in the page's console), not as a protocol failure of the connection whose
      // pipeline happened to call us.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private openGate(): void {
    const held = this.gate ?? [];
    this.gate = null;
    for (const [name, arg] of held) this.emitEvent(name as keyof ClientEvents, arg as never);
  }
}
