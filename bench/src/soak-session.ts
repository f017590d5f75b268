/**
 * One soak session over TCP, built from the protocol package's primitives so that every
 * Packet the gateway sends is seen: @janus/client settles a request once and drops any
 * later Packet with that index by design, which would hide a duplicated reply. This one
 * hands every answer to the session's {@link SessionBook}.
 *
 * What it speaks (PROTOCOL.md): framing (2), CSHandshake / SCHandshake (7.1-7.4), records
 * (7.5), CSAuth / SCAuth (7.6), indices (8), compressed replies (8, inflated with a bound).
 * It never sends a heartbeat: a soak session sends requests continuously and lives far
 * less than the gateway's idle timeout.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { inflateSync } from 'node:zlib';
import {
  acceptServerHello,
  createClientHello,
  CSAuthSchema,
  decodeMessage,
  decodePacket,
  encodeFrame,
  encodeMessage,
  encodePacket,
  ErrorCode,
  FrameDecoder,
  isJanusError,
  isServerLogout,
  JanusError,
  makePacket,
  MOD_SYSTEM,
  RecordOpener,
  RecordSealer,
  SCAuthSchema,
  SCServerLogoutSchema,
  SCServerUnexpectedErrSchema,
  SystemSeq,
  type Packet,
  type SigningKey,
  type VerifyKey,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import type { SessionBook, SessionEnding } from './soak-ledger.js';

/** The keys a soak client needs (PROTOCOL.md 5). */
export interface SoakClientKeys {
  clientKey: SigningKey;
  pins: ReadonlyMap<number, VerifyKey>;
}

/** Where to connect and who logs in. */
export interface SoakSessionOptions {
  host: string;
  port: number;
  keys: SoakClientKeys;
  token: string;
  /** Largest body accepted (bytes); the gateway's maxFrameBytes. */
  maxFrameBytes: number;
  /** Largest inflated reply data (bytes). */
  maxInflateBytes: number;
  /** Login must finish within this (ms). */
  loginTimeoutMs: number;
  /** Receives every push (index 0, mod != 1) and every index-0 ServerUnexpectedErr. */
  onPush?: (p: Packet) => void;
}

/** The outcome of a login that did not open a session. */
export class LoginRefused extends JanusError {}

/** An answer to one request. */
export type Answer = { kind: 'reply'; packet: Packet } | { kind: 'unexpectedErr' } | { kind: 'streamError' } | { kind: 'ended' };

/** Per-request callbacks and checks. */
export interface RequestOptions {
  /** Object id (PROTOCOL.md 3); 0n = my uid. */
  obj?: bigint;
  /** Data an Echo reply must carry; a reply with other data counts as mismatched. */
  expect?: Uint8Array;
  /**
   * Called synchronously when the reply arrives, before any later Packet is read (so a
   * push right behind the reply, in the same read, is seen after it).
   */
  onReply?: (p: Packet) => void;
}

interface Waiter {
  resolve(a: Answer): void;
  onReply: ((p: Packet) => void) | undefined;
}

/** An open soak session. */
export class SoakSession {
  /** Resolves once when the socket has closed, with how the session ended. */
  readonly ended: Promise<SessionEnding>;
  /** The session's uid (SCAuth). */
  uid = 0n;
  private nextIndex = 0;
  private logoutCode: number | null = null;
  private clientCut: 'graceful' | 'abrupt' | null = null;
  private readonly waiters = new Map<number, Waiter>();
  private idleWaiter: (() => void) | null = null;
  private sealer: RecordSealer<true> | null = null;
  private opener: RecordOpener<true> | null = null;
  private onBody: (body: Uint8Array) => void = () => {};
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly book: SessionBook,
    private readonly o: SoakSessionOptions,
  ) {
    const decoder = new FrameDecoder(o.maxFrameBytes, (b) => this.onBody(b));
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    this.ended = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        const how: SessionEnding =
          this.logoutCode !== null
            ? { kind: 'logout', code: this.logoutCode }
            : this.clientCut === 'abrupt'
              ? { kind: 'abandoned' }
              : { kind: 'closed', byGateway: this.clientCut === null };
        book.end(how);
        for (const w of this.waiters.values()) w.resolve({ kind: 'ended' });
        this.waiters.clear();
        this.idleWaiter?.();
        resolve(how);
      }),
    );
  }

  /**
   * Connects, handshakes and logs in (PROTOCOL.md 7).
   * @throws LoginRefused (code JANUS_ERR_LOGOUT, details `logoutCode`) when the gateway
   *   answered with a ServerLogout; JanusError JANUS_ERR_CONNECTION_CLOSED when the
   *   connection failed or closed first, JANUS_ERR_HANDSHAKE_TIMEOUT past loginTimeoutMs,
   *   or the handshake errors of acceptServerHello.
   */
  static async open(o: SoakSessionOptions, book: SessionBook): Promise<SoakSession> {
    const socket = netConnect({ host: o.host, port: o.port });
    socket.setNoDelay(true);
    const s = new SoakSession(socket, book, o);
    const timer = setTimeout(() => socket.destroy(new JanusError(ErrorCode.HandshakeTimeout, `login took over ${o.loginTimeoutMs} ms`)), o.loginTimeoutMs);
    try {
      await s.login();
      return s;
    } catch (err) {
      // Not a session: nothing was sent on it, so the book has nothing to settle.
      s.clientCut = 'abrupt';
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private nextBody(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const onClose = (): void => reject(new JanusError(ErrorCode.ConnectionClosed, 'connection closed during login'));
      this.socket.once('close', onClose);
      this.onBody = (b) => {
        this.socket.off('close', onClose);
        this.onBody = () => {};
        resolve(Uint8Array.from(b));
      };
    });
  }

  private async login(): Promise<void> {
    const hello = await createClientHello({
      crypto: nodeCrypto,
      clientKey: this.o.keys.clientKey,
      certVersion: 1,
      serverId: 0n,
      serverCertVersion: 0,
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
    });
    const answer = this.nextBody();
    this.socket.write(encodeFrame(hello.body, this.o.maxFrameBytes));
    let r;
    try {
      r = await acceptServerHello(nodeCrypto, hello, await answer, this.o.keys.pins);
    } catch (err) {
      if (isJanusError(err, ErrorCode.Logout)) throw new LoginRefused(ErrorCode.Logout, err.message, { ...err.details });
      throw err;
    }
    if (!r.keys) throw new JanusError(ErrorCode.HandshakeInvalid, 'the gateway answered in plaintext mode');
    this.sealer = new RecordSealer(nodeCrypto.aeadKey(r.keys.c2sKey), r.keys.c2sIv);
    this.opener = new RecordOpener(nodeCrypto.aeadKey(r.keys.s2cKey), r.keys.s2cIv);
    this.nextIndex = r.startIndex;
    const scAuth = this.nextBody();
    this.write({ mod: MOD_SYSTEM, seq: SystemSeq.AUTH, data: encodeMessage(CSAuthSchema, { token: this.o.token }) });
    const p = decodePacket(this.opener.open(await scAuth));
    if (isServerLogout(p)) {
      const code = decodeMessage(SCServerLogoutSchema, p.data).code;
      throw new LoginRefused(ErrorCode.Logout, `login refused: ServerLogout ${code}`, { logoutCode: code });
    }
    if (p.mod !== MOD_SYSTEM || p.seq !== SystemSeq.AUTH) throw new JanusError(ErrorCode.UnexpectedMessage, `expected SCAuth, got mod ${p.mod} seq ${p.seq}`);
    this.uid = decodeMessage(SCAuthSchema, p.data).uid;
    this.onBody = (b) => this.onRecord(b);
  }

  private write(fields: Partial<Packet>): number {
    const index = this.nextIndex++;
    const body = encodePacket(makePacket({ ...fields, index }));
    this.socket.write(encodeFrame(this.sealer!.seal(body), this.o.maxFrameBytes));
    return index;
  }

  /** True once the socket has closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Requests in flight (sent, not answered). */
  get inFlight(): number {
    return this.book.inFlight;
  }

  /**
   * Sends a request and records it in the book. Resolves with its answer, or `ended` when
   * the session ended first (the book settles it). `expect`: data an Echo reply must carry.
   */
  request(mod: number, seq: number, data: Uint8Array, ro: RequestOptions = {}): Promise<Answer> {
    if (this.closed || this.clientCut !== null || this.logoutCode !== null) return Promise.resolve({ kind: 'ended' });
    const index = this.write({ mod, seq, data, obj: ro.obj ?? 0n });
    this.book.sent(index, mod, seq, ro.expect ?? null);
    return new Promise((resolve) => this.waiters.set(index, { resolve, onReply: ro.onReply }));
  }

  /**
   * Resolves true when nothing is in flight and no own push is due (at once if so now),
   * false after `timeoutMs` or when the session ends first.
   */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer);
        this.idleWaiter = null;
        resolve(v);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiter = () => done(this.isIdle);
    });
  }

  /** Nothing in flight and no own push due. */
  private get isIdle(): boolean {
    return this.book.inFlight === 0 && this.book.pushesDue === 0;
  }

  /** Tells an idle() waiter that the book changed (or the session ended). */
  bookChanged(): void {
    if (this.idleWaiter && (this.closed || this.isIdle)) this.idleWaiter();
  }

  private onRecord(body: Uint8Array): void {
    let p: Packet;
    try {
      p = decodePacket(this.opener!.open(body));
      if (p.compress) p = { ...p, data: inflateSync(p.data, { maxOutputLength: this.o.maxInflateBytes }), compress: false };
    } catch {
      // A record that fails to open or a bad Packet from the gateway: the session is over,
      // and what is in flight is lost (the ledger counts it).
      this.socket.destroy();
      return;
    }
    if (p.mod === MOD_SYSTEM) {
      if (p.seq === SystemSeq.SERVER_LOGOUT) {
        this.logoutCode ??= decodeMessage(SCServerLogoutSchema, p.data).code;
        return;
      }
      if (p.seq === SystemSeq.SERVER_UNEXPECTED_ERR) {
        if (p.index === 0) {
          this.book.objectStreamFailed(decodeMessage(SCServerUnexpectedErrSchema, p.data).mod);
          this.failWaiters();
          this.o.onPush?.(p);
          return this.bookChanged();
        }
        if (this.book.unexpectedErr(p.index) === 'answered') this.settle(p.index, { kind: 'unexpectedErr' });
        return;
      }
      // Any other System Packet carrying an index answers it (heartbeats are never sent).
      if (p.index !== 0) this.book.reply(p.index, p.mod, p.seq, p.data);
      return;
    }
    if (p.index === 0) {
      this.o.onPush?.(p);
      return this.bookChanged();
    }
    if (this.book.reply(p.index, p.mod, p.seq, p.data) === 'answered') this.settle(p.index, { kind: 'reply', packet: p });
  }

  /** Resolves (`streamError`) the waiters whose requests the book no longer holds in flight. */
  private failWaiters(): void {
    for (const [index, w] of this.waiters) {
      if (this.book.isInFlight(index)) continue;
      this.waiters.delete(index);
      w.resolve({ kind: 'streamError' });
    }
  }

  private settle(index: number, a: Answer): void {
    const w = this.waiters.get(index);
    this.waiters.delete(index);
    if (w && a.kind === 'reply') w.onReply?.(a.packet);
    w?.resolve(a);
    this.bookChanged();
  }

  /** Graceful close: TCP end (FIN); resolves when the socket has closed. */
  close(): Promise<SessionEnding> {
    if (!this.closed && this.clientCut === null) {
      this.clientCut = 'graceful';
      this.socket.end();
    }
    return this.ended;
  }

  /** Abrupt disconnect: the socket is reset (RST) at once; what is in flight is abandoned. */
  destroy(): Promise<SessionEnding> {
    if (!this.closed && this.clientCut === null) {
      this.clientCut = 'abrupt';
      this.socket.resetAndDestroy();
    }
    return this.ended;
  }
}
