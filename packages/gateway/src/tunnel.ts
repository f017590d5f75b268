/**
 * Backend tunnels, PROTOCOL.md 9: one gRPC bidirectional stream per (service, object id)
 * per client connection, spread over a small pool of HTTP/2 connections per instance.
 *
 * The client is a lean gRPC client on node:http2 (the gateway's data path; why not grpc-js:
 * docs/decisions/0009-tunnel-client-on-node-http2.md): each stream is one HTTP/2 request
 * with the tunnel metadata as headers, messages carry gRPC's 5-byte prefix, and the status
 * comes from the trailers (or the stream reset). Backends are ordinary gRPC servers.
 */
import { connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { decodeTunnelMessageAsPacket, ErrorCode, JanusError, tunnelMetadataHeaders, type Packet, type TunnelMessage, type TunnelMetadataFields } from '@janus/protocol';
import { grpcTunnelMessage, GrpcMessageReader, GrpcStatus, statusFromHeaders, statusFromReset } from '@janus/protocol/node';
import { GATE_SERVICE_NAME } from './route-table.js';
import type { ServiceRoute } from './router.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** How a tunnel ended: a gRPC status (`code` 0 = OK). Passed as a value, not thrown. */
export interface TunnelStatus {
  code: number;
  details: string;
}

/** Stream metadata of PROTOCOL.md 9 (the referer is always {@link GATE_REFERER}). */
export type TunnelMetadata = Omit<TunnelMetadataFields, 'referer'>;

/** The referer every gateway stream carries: the gateway's service name. */
export const GATE_REFERER = GATE_SERVICE_NAME;

/** What a Tunnel reports to its owner. */
export interface TunnelListener {
  /** A TunnelResponse, already in the shape of the Packet that carries it to the client. */
  onMessage(tunnel: Tunnel, p: Packet): void;
  /** Called once when the stream ends, whoever ended it. */
  onEnd(tunnel: Tunnel, status: TunnelStatus): void;
  /** The stream accepts writes again after write() returned false. */
  onDrain(tunnel: Tunnel): void;
  /**
   * A TunnelResponse over the receive limit went by (not buffered; the stream goes on):
   * `p` holds its fields except `data` (empty), `bytes` its size (PROTOCOL.md 2: a reply
   * too large is answered with ServerUnexpectedErr).
   */
  onTooLarge(tunnel: Tunnel, p: Packet, bytes: number): void;
}

/** One bidirectional stream to a backend. */
export class Tunnel {
  /** mod and seq of the last request written (for ServerUnexpectedErr on an error end). */
  lastMod = 0;
  lastSeq = 0;
  private ended = false;
  private halfClosed = false;
  private cancelTimer: TimerHandle | null = null;
  private readonly reader: GrpcMessageReader;
  private accepting: Promise<boolean> | null = null;
  private responded = false;
  private onSettled: ((accepted: boolean) => void) | null = null;

  /**
   * @param route the service this stream belongs to.
   * @param oid the stream's object id (uid for the player service).
   * @param halfCloseMs after end(), cancel the stream if the backend has not ended it (ms).
   * @param maxReceiveBytes largest backend message delivered (bytes); a larger one is read by without buffering and reported to onTooLarge.
   * @param onFinished called once when the stream has ended (the pool forgets it).
   */
  constructor(
    readonly route: ServiceRoute,
    readonly oid: bigint,
    private readonly stream: ClientHttp2Stream,
    private readonly listener: TunnelListener,
    private readonly halfCloseMs: number,
    maxReceiveBytes: number,
    private readonly onFinished: (t: Tunnel) => void,
    private readonly ping: (done: () => void) => boolean,
    private readonly clock: Clock,
  ) {
    this.reader = new GrpcMessageReader(
      maxReceiveBytes,
      (body) => {
        const p = this.decode(body);
        if (p && !this.ended) listener.onMessage(this, p);
      },
      (fields, bytes) => {
        const p = this.decode(fields);
        if (p && !this.ended) listener.onTooLarge(this, p, bytes);
      },
    );
    stream.on('response', (headers) => {
      this.responded = true;
      const status = Number(headers[':status']);
      if (status !== 200) {
        this.fail(status === 404 || status === 501 ? GrpcStatus.UNIMPLEMENTED : GrpcStatus.UNAVAILABLE, `backend answered HTTP ${status}`);
        return;
      }
      // Trailers-only response: the status arrives with the headers (a wrong method path gets
      // UNIMPLEMENTED this way). The stream ended at once, so it was not accepted: finish first.
      const s = statusFromHeaders(headers);
      if (s) this.finish(s);
      else this.onSettled?.(true);
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      const err = this.reader.push(chunk);
      if (err) this.fail(err.code, err.details);
    });
    stream.on('trailers', (trailers) => {
      this.finish(statusFromHeaders(trailers) ?? { code: GrpcStatus.UNKNOWN, details: 'trailers without grpc-status' });
    });
    stream.on('drain', () => {
      if (!this.ended) listener.onDrain(this);
    });
    // 'error' comes with 'close'; the status is decided there.
    stream.on('error', () => {});
    stream.on('close', () => {
      if (this.ended) return;
      const session = stream.session;
      const lost = this.sessionLost ?? (!session || session.destroyed ? 'backend connection lost' : null);
      this.finish(lost ? { code: GrpcStatus.UNAVAILABLE, details: lost } : statusFromReset(stream.rstCode ?? h2.NGHTTP2_NO_ERROR));
    });
  }

  /**
   * Resolves true once the backend has taken the stream: its response headers came, or a
   * PING sent after the stream's HEADERS was answered (HTTP/2 frames are handled in order,
   * so the backend's handler has seen the stream); false when the stream ended first
   * (PROTOCOL.md 7.6: a player stream that "fails at once").
   */
  accepted(): Promise<boolean> {
    this.accepting ??= new Promise<boolean>((resolve) => {
      if (this.ended) return resolve(false);
      if (this.responded) return resolve(true);
      let settled = false;
      this.onSettled = (ok) => {
        if (settled) return;
        settled = true;
        this.onSettled = null;
        resolve(ok);
      };
      // No PING possible (connection going away): the stream's own end or headers decide.
      this.ping(() => this.onSettled?.(!this.ended));
    });
    return this.accepting;
  }

  /** The status the stream ended with (null while it is open). */
  endStatus: TunnelStatus | null = null;

  private decode(body: Buffer): Packet | null {
    try {
      return decodeTunnelMessageAsPacket(body);
    } catch (err) {
      this.fail(GrpcStatus.INTERNAL, `bad TunnelResponse: ${(err as Error).message}`);
      return null;
    }
  }

  /** Set by the channel when its connection failed (the status of the streams it takes down). */
  sessionLost: string | null = null;

  /**
   * Writes a request; false asks the caller to wait for onDrain (the message is queued).
   * @param trace the request's encoded trace context fields (tracing on), appended to the message.
   */
  write(m: TunnelMessage, trace?: Uint8Array): boolean {
    if (this.ended || this.halfClosed) return true;
    this.lastMod = m.mod;
    this.lastSeq = m.seq;
    return this.stream.write(grpcTunnelMessage(m, trace));
  }

  /**
   * Half-closes the stream (the client connection closed). A backend that does not end
   * its side within halfCloseMs gets the stream cancelled, so nothing is held forever.
   * Idempotent.
   */
  end(): void {
    if (this.halfClosed || this.ended) return;
    this.halfClosed = true;
    this.stream.end();
    this.cancelTimer = this.clock.setTimeout(() => this.cancel(), this.halfCloseMs);
  }

  /** Cancels the stream (gateway teardown, or a backend that ignores the half-close). */
  cancel(): void {
    if (!this.ended) this.fail(GrpcStatus.CANCELLED, 'cancelled by the gateway');
  }

  private fail(code: number, details: string): void {
    this.finish({ code, details }, h2.NGHTTP2_CANCEL);
  }

  /**
   * Ends the tunnel with status `s` (once). The HTTP/2 stream is closed too: after the
   * backend's status (RST_STREAM NO_ERROR, our side is done) or cancelled (CANCEL).
   */
  private finish(s: TunnelStatus, rstCode: number = h2.NGHTTP2_NO_ERROR): void {
    if (this.ended) return;
    this.ended = true;
    this.endStatus = s;
    if (this.cancelTimer) this.clock.clearTimeout(this.cancelTimer);
    if (!this.stream.closed && !this.stream.destroyed) this.stream.close(rstCode);
    this.onSettled?.(false);
    this.onFinished(this);
    this.listener.onEnd(this, s);
  }
}

/** Backoff between connection attempts to an unreachable backend (ms). */
const RECONNECT_BACKOFF_MIN_MS = 200;
const RECONNECT_BACKOFF_MAX_MS = 2000;

/**
 * One HTTP/2 connection to a backend instance, opened on first use and again after it
 * fails (not before the backoff has passed: opens fail fast meanwhile). A connection is
 * ready once the backend's SETTINGS frame arrived; one that is not ready within
 * connectTimeoutMs is destroyed and replaced by the next open. Keepalive: a PING
 * every keepaliveMs while streams are open; one unanswered for keepaliveTimeoutMs destroys
 * the connection, failing its streams UNAVAILABLE.
 */
class Http2Channel {
  private session: ClientHttp2Session | null = null;
  private ready: Promise<ClientHttp2Session> | null = null;
  private failedUntil = 0;
  private backoffMs = RECONNECT_BACKOFF_MIN_MS;
  private lastError = '';
  private keepaliveTimer: TimerHandle | null = null;
  /** Open streams and the connection each runs on. */
  private readonly streams = new Map<Tunnel, ClientHttp2Session>();
  private closed = false;

  constructor(
    private readonly address: string,
    private readonly o: ChannelOptions,
  ) {}

  /** No connection, and within the reconnect backoff after a failed one: connected() would fail at once. */
  get inBackoff(): boolean {
    return this.ready === null && this.o.clock.monotonic() < this.failedUntil;
  }

  /**
   * The connected session.
   * @throws JanusError JANUS_ERR_NO_INSTANCE when the backend is unreachable (or was within
   *   the backoff) or does not connect within connectTimeoutMs.
   */
  connected(): Promise<ClientHttp2Session> {
    if (this.closed) return Promise.reject(new JanusError(ErrorCode.NoInstance, `channel to ${this.address} is closed`));
    if (this.ready) return this.ready;
    if (this.o.clock.monotonic() < this.failedUntil) {
      return Promise.reject(new JanusError(ErrorCode.NoInstance, `backend ${this.address} is unreachable (${this.lastError})`));
    }
    const session = connect(`http://${this.address}`, {
      settings: { enablePush: false },
      // Many streams share the connection: a small frame must not wait for an ACK (Nagle).
      createConnection: (url: URL) => netConnect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port), noDelay: true }),
    });
    this.session = session;
    const ready = new Promise<ClientHttp2Session>((resolve, reject) => {
      const timer = this.o.clock.setTimeout(() => {
        session.destroy();
        reject(new JanusError(ErrorCode.NoInstance, `backend ${this.address} not ready within ${this.o.connectTimeoutMs} ms`));
      }, this.o.connectTimeoutMs);
      // Ready means the backend spoke HTTP/2: its SETTINGS frame came. node:http2 emits
      // 'connect' once TCP is up, so a peer that accepts and never answers (a hung process,
      // not a gRPC server) would otherwise look ready and hold this channel for good.
      session.once('remoteSettings', () => {
        this.o.clock.clearTimeout(timer);
        this.backoffMs = RECONNECT_BACKOFF_MIN_MS;
        resolve(session);
      });
      session.once('close', () => {
        this.o.clock.clearTimeout(timer);
        reject(new JanusError(ErrorCode.NoInstance, `backend ${this.address} is unreachable (${this.lastError || 'connection closed'})`));
      });
    });
    ready.catch(() => {});
    session.on('error', (err: Error) => {
      this.lastError = (err as NodeJS.ErrnoException).code ?? err.message;
      // Its streams close next, without trailers: they end UNAVAILABLE with this reason.
      this.markLost(session, this.lastError);
    });
    // A GOAWAY (backend shutting down) lets open streams finish; new ones go to a new connection.
    session.on('goaway', () => this.forget(session, 'backend sent GOAWAY'));
    session.on('close', () => this.forget(session, this.lastError || 'backend connection closed'));
    this.ready = ready;
    return ready;
  }

  /** Opens a stream with `headers`; see {@link ChannelPool.open}. */
  async open(headers: Record<string, string>, route: ServiceRoute, oid: bigint, listener: TunnelListener): Promise<Tunnel> {
    const session = await this.connected();
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (err) {
      this.forget(session, (err as Error).message);
      throw new JanusError(ErrorCode.NoInstance, `backend ${this.address}: ${(err as Error).message}`);
    }
    const t: Tunnel = new Tunnel(route, oid, stream, listener, this.o.halfCloseMs, this.o.maxReceiveBytes, (done) => {
      this.streams.delete(done);
      if (this.streams.size === 0) this.stopKeepalive();
    }, (done) => !session.destroyed && session.ping(() => done()), this.o.clock);
    this.streams.set(t, session);
    if (!this.keepaliveTimer) this.startKeepalive(session);
    return t;
  }

  /** A PING every keepaliveMs (each timer armed by the one before), while streams are open. */
  private startKeepalive(session: ClientHttp2Session): void {
    const { clock } = this.o;
    this.keepaliveTimer = clock.setTimeout(() => {
      this.keepaliveTimer = null;
      if (session.destroyed) return;
      const deadline = clock.setTimeout(() => {
        this.lastError = `keepalive PING unanswered for ${this.o.keepaliveTimeoutMs} ms`;
        this.forget(session, this.lastError);
        session.destroy();
      }, this.o.keepaliveTimeoutMs);
      const sent = session.ping((err) => {
        if (!err) clock.clearTimeout(deadline);
      });
      if (!sent) clock.clearTimeout(deadline);
      if (this.streams.size !== 0 && this.session === session) this.startKeepalive(session);
    }, this.o.keepaliveMs);
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) this.o.clock.clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = null;
  }

  /** Stops using `session` for new streams; streams on a connection that failed end UNAVAILABLE. */
  private forget(session: ClientHttp2Session, why: string): void {
    if (this.session !== session) {
      if (session.destroyed || session.closed) this.markLost(session, why);
      return;
    }
    this.session = null;
    this.ready = null;
    this.stopKeepalive();
    if (!session.destroyed && !session.closed) {
      // GOAWAY: close gracefully once its streams are done.
      session.close();
      return;
    }
    this.markLost(session, why);
    this.failedUntil = this.o.clock.monotonic() + this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_BACKOFF_MAX_MS);
  }

  private markLost(session: ClientHttp2Session, why: string): void {
    for (const [t, on] of this.streams) if (on === session) t.sessionLost ??= why;
  }

  /** Adds this channel's open streams to `byService` (service name -> count). */
  countStreams(byService: Map<string, number>): void {
    for (const t of this.streams.keys()) byService.set(t.route.name, (byService.get(t.route.name) ?? 0) + 1);
  }

  /** Open streams on this channel. */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * Takes no new streams; the connection closes gracefully (HTTP/2 GOAWAY) once the streams
   * open on it have ended. For an instance discovery removed.
   */
  retire(): void {
    this.closed = true;
    const session = this.session;
    this.session = null;
    this.ready = null;
    if (session && !session.destroyed && !session.closed) session.close();
  }

  /** Cancels every stream and closes the connection. */
  close(): void {
    this.closed = true;
    for (const t of [...this.streams.keys()]) t.cancel();
    this.stopKeepalive();
    this.session?.destroy();
    this.session = null;
    this.ready = null;
  }
}

interface ChannelOptions {
  clock: Clock;
  connectTimeoutMs: number;
  halfCloseMs: number;
  maxReceiveBytes: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
}

/**
 * HTTP/2 connections to backend instances: `channelsPerInstance` connections per address,
 * streams assigned round robin.
 */
export class ChannelPool {
  private readonly pools = new Map<string, { channels: Http2Channel[]; next: number }>();
  private readonly o: ChannelOptions;

  /**
   * @param channelsPerInstance HTTP/2 connections per backend address (count).
   * @param connectTimeoutMs wait for a connection to a backend when opening a stream (ms).
   * @param halfCloseMs after a half-close, cancel a stream the backend has not ended (ms).
   * @param maxReceiveBytes largest backend message delivered (bytes); larger ones go to TunnelListener.onTooLarge, the stream goes on.
   * @param keepalive HTTP/2 PING interval while streams are open, and how long an unanswered PING
   *   may take before the connection is closed and its streams fail UNAVAILABLE (ms): a backend host
   *   that vanished without a RST is noticed within keepaliveMs + keepaliveTimeoutMs.
   * @param clock timers and the reconnect backoff (monotonic time). Default: the system clock.
   */
  constructor(
    private readonly channelsPerInstance: number,
    connectTimeoutMs: number,
    halfCloseMs: number,
    maxReceiveBytes: number,
    keepalive: { keepaliveMs: number; keepaliveTimeoutMs: number },
    clock: Clock = systemClock,
  ) {
    this.o = {
      clock,
      connectTimeoutMs,
      halfCloseMs,
      maxReceiveBytes,
      keepaliveMs: keepalive.keepaliveMs,
      keepaliveTimeoutMs: keepalive.keepaliveTimeoutMs,
    };
  }

  private channel(address: string): Http2Channel {
    let p = this.pools.get(address);
    if (!p) {
      p = { channels: [], next: 0 };
      for (let i = 0; i < this.channelsPerInstance; i++) p.channels.push(new Http2Channel(address, this.o));
      this.pools.set(address, p);
    }
    // Round robin, passing over a channel in its reconnect backoff while another one of the
    // instance is not: after a backend restart one channel may already be up again while the
    // other still waits out its backoff, and a stream must not fail for that.
    const n = p.channels.length;
    for (let k = 0; k < n; k++) {
      const c = p.channels[(p.next + k) % n]!;
      if (!c.inBackoff || k === n - 1) {
        p.next = (p.next + k + 1) % n;
        return c;
      }
    }
    throw new Error('unreachable: an instance has at least one channel');
  }

  /**
   * Opens a stream at `route.path` on `address` with the tunnel metadata of PROTOCOL.md 9.
   * @param traceHeaders W3C `traceparent`/`tracestate` of the request that opens the stream
   *   (tracing on), sent with the metadata; default none.
   * @throws JanusError JANUS_ERR_NO_INSTANCE when the backend is unreachable or does not
   *   connect within the timeout.
   */
  open(address: string, route: ServiceRoute, md: TunnelMetadata, listener: TunnelListener, traceHeaders?: Record<string, string>): Promise<Tunnel> {
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': route.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...tunnelMetadataHeaders({ ...md, referer: GATE_REFERER }),
      ...traceHeaders,
    };
    return this.channel(address).open(headers, route, md.oid, listener);
  }

  /** Backend addresses with connections in the pool. */
  get addressCount(): number {
    return this.pools.size;
  }

  /**
   * Forgets `address` (an instance discovery removed): its connections take no new streams
   * and close once their open streams end. A later open() to it starts a new pool.
   */
  retire(address: string): void {
    const p = this.pools.get(address);
    if (!p) return;
    this.pools.delete(address);
    for (const c of p.channels) c.retire();
  }

  /** Open streams by service name (for metrics and stats: O(streams), not for the data path). */
  openByService(): Map<string, number> {
    const m = new Map<string, number>();
    for (const p of this.pools.values()) for (const c of p.channels) c.countStreams(m);
    return m;
  }

  /** Open streams to `address` (`host:port`), over its channels. */
  openToAddress(address: string): number {
    let n = 0;
    for (const c of this.pools.get(address)?.channels ?? []) n += c.streamCount;
    return n;
  }

  /**
   * Whether a backend at `address` accepts an HTTP/2 connection now (readiness): connects
   * one of its channels, which then serves tunnels as usual. Never rejects.
   */
  reachable(address: string): Promise<boolean> {
    return this.channel(address)
      .connected()
      .then(
        () => true,
        () => false,
      );
  }

  /** Cancels every stream still open, then closes every connection. */
  close(): void {
    for (const p of this.pools.values()) for (const c of p.channels) c.close();
    this.pools.clear();
  }
}
