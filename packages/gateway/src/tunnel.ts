/**
 * Backend tunnels, PROTOCOL.md 9: one grpc-js bidirectional stream per (service, object id)
 * per client connection, spread over a small pool of HTTP/2 connections per instance.
 */
import * as grpc from '@grpc/grpc-js';
import { deserializeTunnelMessage, serializeTunnelMessage, tunnelMetadata } from '@janus/backend';
import { ErrorCode, JanusError, type TunnelMessage } from '@janus/protocol';
import { GATE_SERVICE_NAME } from './route-table.js';

/** How a tunnel ended: a gRPC status (`code` 0 = OK). Passed as a value, not thrown. */
export interface TunnelStatus {
  code: grpc.status;
  details: string;
}

/** Stream metadata of PROTOCOL.md 9 (the referer is always {@link GATE_REFERER}). */
export interface TunnelMetadata {
  oid: bigint;
  uid: bigint;
  sid: bigint;
  status: number;
  color: string;
  clientIp: string;
  /** `host:grpcPort#connectionId`. */
  gateReferer: string;
}

/** The referer every gateway stream carries: the gateway's service name. */
export const GATE_REFERER = GATE_SERVICE_NAME;

/** What a Tunnel reports to its owner. */
export interface TunnelListener {
  onMessage(tunnel: Tunnel, m: TunnelMessage): void;
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

  constructor(
    readonly service: string,
    readonly oid: bigint,
    private readonly call: grpc.ClientDuplexStream<TunnelMessage, TunnelMessage>,
    listener: TunnelListener,
  ) {
    call.on('data', (m: TunnelMessage) => listener.onMessage(this, m));
    call.on('drain', () => listener.onDrain(this));
    // 'error' carries the same status as 'status'; listen so it is not thrown.
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => {
      if (this.ended) return;
      this.ended = true;
      listener.onEnd(this, { code: s.code, details: s.details });
    });
  }

  /** True once the stream has ended. */
  get closed(): boolean {
    return this.ended;
  }

  /** Writes a request; false asks the caller to wait for onDrain (the message is queued). */
  write(m: TunnelMessage): boolean {
    this.lastMod = m.mod;
    this.lastSeq = m.seq;
    return this.call.write(m);
  }

  /** Half-closes the stream (the client connection closed). Idempotent. */
  end(): void {
    if (this.halfClosed || this.ended) return;
    this.halfClosed = true;
    this.call.end();
  }

  /** Cancels the stream (gateway teardown). */
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

  constructor(
    private readonly channelsPerInstance: number,
    private readonly connectTimeoutMs: number,
  ) {}

  private client(address: string): grpc.Client {
    let p = this.pools.get(address);
    if (!p) {
      p = { clients: [], next: 0 };
      for (let i = 0; i < this.channelsPerInstance; i++) {
        p.clients.push(
          new grpc.Client(address, grpc.credentials.createInsecure(), {
            'grpc.use_local_subchannel_pool': 1,
            'grpc.max_receive_message_length': 64 * 1024 * 1024,
            'grpc.initial_reconnect_backoff_ms': 200,
            'grpc.max_reconnect_backoff_ms': 2000,
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
  async open(address: string, path: string, service: string, md: TunnelMetadata, listener: TunnelListener): Promise<Tunnel> {
    const client = this.client(address);
    await this.ready(client.getChannel(), address);
    const call = client.makeBidiStreamRequest<TunnelMessage, TunnelMessage>(
      path,
      serializeTunnelMessage,
      deserializeTunnelMessage,
      tunnelMetadata({ ...md, referer: GATE_REFERER }),
    );
    return new Tunnel(service, md.oid, call, listener);
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

  /** Closes every channel. */
  close(): void {
    for (const p of this.pools.values()) for (const c of p.clients) c.close();
    this.pools.clear();
  }
}
