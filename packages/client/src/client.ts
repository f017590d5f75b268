/**
 * JanusClient: the session logic of the Node SDK (PROTOCOL.md 4, 7, 8) on top of a
 * {@link Link}: requests matched to replies by index, heartbeats, pushes, ServerLogout,
 * and the reconnect loop (policy in reconnect.ts).
 *
 * Lifecycle: open -> (reconnecting -> open)* -> closed. `'close'` is emitted exactly once,
 * when the client is done for good; a drop that will be retried emits `'reconnecting'`
 * instead.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { debuglog } from 'node:util';
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
import { isFinalLogout, reconnectDelay } from './reconnect.js';

const trace = debuglog('janus-client');

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

/** What heartbeat() resolves with (SCHeartbeat). */
export interface HeartbeatReply {
  /** The gateway's clock (unix seconds). */
  serverTime: bigint;
  /** 1 Succeeded, 2 ErrTime (|client_time - server time| > 10 s), 0 ErrServer. */
  code: SCHeartbeat_Code;
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
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A Janus client session over TCP or WebSocket.
 *
 * Events:
 * - `'push'` `(p: Packet)`: a Packet with index 0 and mod != 1 (data already inflated);
 * - `'serverError'` `(e: ServerErrorEvent)`: SCServerUnexpectedErr with index 0;
 * - `'reconnecting'` `(e: ReconnectingEvent)`: before each reconnect attempt;
 * - `'reconnect'` `(s: Session)`: a new session is open (indices start over);
 * - `'close'` `(r: CloseReason)`: once, when the client is done.
 *
 * Events of the first session are held until the tick after connect() resolves, so
 * listeners attached right after `await JanusClient.connect()` miss nothing.
 */
export class JanusClient extends EventEmitter {
  private state: State = 'open';
  private link: Link | null = null;
  private current: Session;
  private readonly pending = new Map<number, Pending>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** The request-timeout timer (see armTimeouts). */
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** Seconds to add to `now()`; learned from a ClockSkew ServerLogout's server_time. */
  private clockOffset = 0;
  private reconnectAbort: AbortController | null = null;
  private closePromise: Promise<void> | null = null;
  /** Events held until listeners can be attached (see class doc). */
  private gate: Array<[string, unknown]> | null = [];

  /**
   * Connects, handshakes and authenticates; resolves after SCAuth (PROTOCOL.md 7).
   * The first connection is not retried, whatever `reconnect` says.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID / JANUS_ERR_KEY_INVALID for bad options;
   *   JANUS_ERR_LOGOUT with `details.logoutCode` when the gateway answered with ServerLogout;
   *   JANUS_ERR_HANDSHAKE_INVALID (e.g. a bad server signature); JANUS_ERR_HANDSHAKE_TIMEOUT
   *   past connectTimeoutMs; JANUS_ERR_CONNECTION_CLOSED when the connection fails.
   */
  static async connect(opts: ClientOptions): Promise<JanusClient> {
    const o = await resolveOptions(opts);
    const { link, session } = await login(o, { clockOffset: 0 });
    const client = new JanusClient(o, session);
    client.attach(link, session);
    setImmediate(() => client.openGate());
    return client;
  }

  private constructor(
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
    return this.state === 'closed';
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
    return this.track<HeartbeatReply>(out, (p, resolve) => {
      const h = decodeMessage(SCHeartbeatSchema, p.data);
      resolve({ serverTime: h.serverTime, code: h.code });
    });
  }

  /**
   * Graceful close: rejects pending requests (JANUS_ERR_CONNECTION_CLOSED), ends the
   * transport (TCP end / WebSocket close 1000) or stops a reconnect in progress, emits
   * `'close'` `{ kind: 'closed' }`. Idempotent; resolves when the transport has closed.
   */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.state === 'closed') return (this.closePromise = Promise.resolve());
    this.state = 'closed';
    const closed = new JanusError(ErrorCode.ConnectionClosed, 'client closed');
    this.reconnectAbort?.abort(closed);
    const link = this.detach(closed);
    this.closePromise = (link ? link.close() : Promise.resolve()).then(() => this.emitEvent('close', { kind: 'closed' } satisfies CloseReason));
    return this.closePromise;
  }

  // ---------------------------------------------------------------------------------
  // Requests

  /** Sends `out` and registers a pending entry under its index until reply, error or timeout. */
  private track<T>(out: OutgoingPacket, onReply: (p: Packet, resolve: (v: T) => void) => void): Promise<T> {
    const link = this.link;
    if (this.state !== 'open' || !link) {
      return Promise.reject(new JanusError(ErrorCode.ConnectionClosed, `not connected (${this.state})`));
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
    this.timeoutTimer = setTimeout(this.sweepTimeouts, Math.max(0, oldest.deadline - performance.now()));
    this.timeoutTimer.unref();
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
        trace('ignored System Packet seq %d index %d', p.seq, p.index);
    }
  }

  private onLogout(lo: { code: SCServerLogout_Code; serverTime: bigint }): void {
    trace('ServerLogout %s server_time %s', SCServerLogout_Code[lo.code], lo.serverTime);
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
    trace('connection closed: %s ws %s', info.error?.code ?? 'orderly', info.wsCode ?? '-');
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
    this.state = 'open';
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
    if (this.state === 'closed') return;
    const policy = this.o.reconnect;
    const final = reason.kind === 'logout' && isFinalLogout(reason.code);
    if (policy && policy.retries > 0 && !final) void this.reconnectLoop(reason);
    else this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closePromise = Promise.resolve();
    this.emitEvent('close', reason);
  }

  private async reconnectLoop(first: CloseReason): Promise<void> {
    this.state = 'reconnecting';
    const policy = this.o.reconnect!;
    let last = first;
    for (let attempt = 1; attempt <= policy.retries; attempt++) {
      const delayMs = reconnectDelay(policy, attempt, last.kind === 'logout' ? last.code : undefined);
      this.emitEvent('reconnecting', { attempt, delayMs, reason: last } satisfies ReconnectingEvent);
      const abort = new AbortController();
      this.reconnectAbort = abort;
      try {
        await sleep(delayMs, abort.signal);
        const { link, session } = await login(this.o, { clockOffset: this.clockOffset, signal: abort.signal });
        if (this.state !== 'reconnecting') {
          void link.close();
          return;
        }
        this.reconnectAbort = null;
        trace('reconnected after %d attempt(s)', attempt);
        this.link = link;
        this.current = session;
        this.state = 'open';
        // 'reconnect' before the new session's Packets, so its listeners see them in order.
        this.emitEvent('reconnect', session);
        if (this.link === link) this.attach(link, session);
        return;
      } catch (err) {
        if (this.state !== 'reconnecting') return; // close() stopped us; it emits 'close'
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
        trace('reconnect attempt %d failed: %s', attempt, e.message);
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
    this.heartbeatTimer = setTimeout(() => this.onHeartbeatTimer(link), Math.max(0, due));
    this.heartbeatTimer.unref();
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

  private emitEvent(name: string, arg: unknown): void {
    if (this.gate) {
      this.gate.push([name, arg]);
      return;
    }
    try {
      this.emit(name, arg);
    } catch (err) {
      // A listener threw: surface it like any listener error, not as a protocol failure of
      // the connection whose pipeline happened to call us.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  private openGate(): void {
    const held = this.gate ?? [];
    this.gate = null;
    for (const [name, arg] of held) this.emitEvent(name, arg);
  }
}
