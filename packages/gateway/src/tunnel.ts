/**
 * Backend tunnels, PROTOCOL.md 9: one grpc-js bidirectional stream per (service, object id)
 * per client connection, spread over a small pool of HTTP/2 connections per instance.
 */
import * as grpc from '@grpc/grpc-js';
import { serializeTunnelMessage, tunnelMetadata, type TunnelMetadataFields } from '@janus/backend';
import { decodeTunnelMessageAsPacket, ErrorCode, JanusError, type Packet, type TunnelMessage } from '@janus/protocol';
import { GATE_SERVICE_NAME } from './route-table.js';
import type { ServiceRoute } from './router.js';

function deserializePacket(buf: Buffer): Packet {
  return decodeTunnelMessageAsPacket(buf);
}

/** How a tunnel ended: a gRPC status (`code` 0 = OK). Passed as a value, not thrown. */
export interface TunnelStatus {
  code: grpc.status;
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
}

/** One bidirectional stream to a backend. */
export class Tunnel {
  /** mod and seq of the last request written (for ServerUnexpectedErr on an error end). */
  lastMod = 0;
  lastSeq = 0;
  private ended = false;
  private halfClosed = false;
  private cancelTimer: NodeJS.Timeout | null = null;

  /**
   * @param route the service this stream belongs to.
   * @param oid the stream's object id (uid for the player service).
   * @param halfCloseMs after end(), cancel the stream if the backend has not ended it (ms).
   * @param onFinished called once when the stream has ended (the pool forgets it).
   */
  constructor(
    readonly route: ServiceRoute,
    readonly oid: bigint,
    private readonly call: grpc.ClientDuplexStream<TunnelMessage, Packet>,
    listener: TunnelListener,
    private readonly halfCloseMs: number,
    onFinished: (t: Tunnel) => void,
  ) {
    call.on('data', (p: Packet) => listener.onMessage(this, p));
    call.on('drain', () => listener.onDrain(this));
    // 'error' carries the same status as 'status'; listen so it is not thrown.
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => {
      if (this.ended) return;
      this.ended = true;
      if (this.cancelTimer) clearTimeout(this.cancelTimer);
      onFinished(this);
      listener.onEnd(this, { code: s.code, details: s.details });
    });
  }

  /** Writes a request; false asks the caller to wait for onDrain (the message is queued). */
  write(m: TunnelMessage): boolean {
    this.lastMod = m.mod;
    this.lastSeq = m.seq;
    return this.call.write(m);
  }

  /**
   * Half-closes the stream (the client connection closed). A backend that does not end
   * its side within halfCloseMs gets the stream cancelled, so nothing is held forever.
   * Idempotent.
   */
  end(): void {
    if (this.halfClosed || this.ended) return;
    this.halfClosed = true;
    this.call.end();
    this.cancelTimer = setTimeout(() => this.cancel(), this.halfCloseMs);
    this.cancelTimer.unref();
  }

  /** Cancels the stream (gateway teardown, or a backend that ignores the half-close). */
  cancel(): void {
    if (!this.ended) this.call.cancel();
  }
}

/**
 * HTTP/2 connections to backend instances: `channelsPerInstance` grpc-js clients per
 * address, each with its own (local) subchannel pool, streams assigned round robin.
 * Why local pools: grpc-js shares one HTTP/2 connection among channels with equal options.
 */
export class ChannelPool {
  private readonly pools = new Map<string, { clients: grpc.Client[]; next: number }>();
  /** Streams not yet ended, cancelled on close(). */
  private readonly live = new Set<Tunnel>();

  /**
   * @param channelsPerInstance HTTP/2 connections per backend address (count).
   * @param connectTimeoutMs wait for a channel to become ready when opening a stream (ms).
   * @param halfCloseMs after a half-close, cancel a stream the backend has not ended (ms).
   * @param maxReceiveBytes largest backend message accepted (bytes); larger ones fail the stream.
   * @param keepalive HTTP/2 PING interval while streams are open, and how long an unanswered PING
   *   may take before the channel is closed and its streams fail UNAVAILABLE (ms): a backend host
   *   that vanished without a RST is noticed within keepaliveMs + keepaliveTimeoutMs.
   */
  constructor(
    private readonly channelsPerInstance: number,
    private readonly connectTimeoutMs: number,
    private readonly halfCloseMs: number,
    private readonly maxReceiveBytes: number,
    private readonly keepalive: { keepaliveMs: number; keepaliveTimeoutMs: number },
  ) {}

  private client(address: string): grpc.Client {
    let p = this.pools.get(address);
    if (!p) {
      p = { clients: [], next: 0 };
      for (let i = 0; i < this.channelsPerInstance; i++) {
        p.clients.push(
          new grpc.Client(address, grpc.credentials.createInsecure(), {
            'grpc.use_local_subchannel_pool': 1,
            'grpc.max_receive_message_length': this.maxReceiveBytes,
            'grpc.initial_reconnect_backoff_ms': 200,
            'grpc.max_reconnect_backoff_ms': 2000,
            // A tunnel is never retried (a replayed game request is not idempotent), and the
            // retry layer costs a buffer copy and promise hops per message.
            'grpc.enable_retries': 0,
            'grpc.keepalive_time_ms': this.keepalive.keepaliveMs,
            'grpc.keepalive_timeout_ms': this.keepalive.keepaliveTimeoutMs,
            'grpc.keepalive_permit_without_calls': 0,
          }),
        );
      }
      this.pools.set(address, p);
    }
    const c = p.clients[p.next]!;
    p.next = (p.next + 1) % p.clients.length;
    return c;
  }

  /**
   * Opens a stream at `path` on `address` once its channel is ready.
   * @throws JanusError JANUS_ERR_NO_INSTANCE when the channel fails to connect within the timeout.
   */
  async open(address: string, route: ServiceRoute, md: TunnelMetadata, listener: TunnelListener): Promise<Tunnel> {
    const client = this.client(address);
    await this.ready(client.getChannel(), address);
    const call = client.makeBidiStreamRequest<TunnelMessage, Packet>(
      route.path,
      serializeTunnelMessage,
      deserializePacket,
      tunnelMetadata({ ...md, referer: GATE_REFERER }),
    );
    const t = new Tunnel(route, md.oid, call, listener, this.halfCloseMs, (done) => this.live.delete(done));
    this.live.add(t);
    return t;
  }

  // READY: go. TRANSIENT_FAILURE (connection refused...) or SHUTDOWN: fail fast. Else wait.
  private ready(channel: ReturnType<grpc.Client['getChannel']>, address: string): Promise<void> {
    const deadline = Date.now() + this.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve();
        if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
          return reject(new JanusError(ErrorCode.NoInstance, `backend ${address} is unreachable`));
        }
        channel.watchConnectivityState(state, deadline, (err) => {
          if (err) reject(new JanusError(ErrorCode.NoInstance, `backend ${address} not ready within ${this.connectTimeoutMs} ms`));
          else check();
        });
      };
      check();
    });
  }

  /** Cancels every stream still open, then closes every channel. */
  close(): void {
    for (const t of [...this.live]) t.cancel();
    this.live.clear();
    for (const p of this.pools.values()) for (const c of p.clients) c.close();
    this.pools.clear();
  }
}
