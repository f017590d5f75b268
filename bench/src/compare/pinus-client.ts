/**
 * A minimal client of pinus's hybrid connector over TCP (wire format in pinus-codec.ts):
 * handshake, handshake ack, heartbeats, requests matched to responses by id, pushes.
 * JSON bodies; routes compressed with the handshake's dictionary when asked and known.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { decodeMessage, encodeMessage, encodePackage, MessageType, PackageReader, PackageType, type PinusPackage } from './pinus-codec.js';

/** Options of {@link PinusClient.connect}. */
export interface PinusClientOptions {
  host: string;
  port: number;
  /** Compress routes found in the server's dictionary to their u16 code. Default true. */
  useDict?: boolean;
  /** Give up on the handshake after this long (ms). Default 10000. */
  connectTimeoutMs?: number;
}

/** What the server's handshake response said. */
export interface PinusHandshake {
  /** Heartbeat interval (s); 0 = none. */
  heartbeatS: number;
  /** Route -> code dictionary (empty when the server has none). */
  dict: Record<string, number>;
}

/** Error of a request or the connection (a pinus error response, or the socket ended). */
export class PinusError extends Error {}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

const CLIENT_SYS = { type: 'janus-bench', version: '0.1.0' };
const MAX_ID = 2 ** 31 - 1;

/**
 * One connection to a pinus connector.
 *
 * Events: `'push'` `(route: string, body: unknown)`; `'close'` once the socket is closed.
 */
export class PinusClient extends EventEmitter {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private codeToRoute = new Map<number, string>();
  private isClosed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: Socket,
    readonly handshake: PinusHandshake,
    private readonly useDict: boolean,
  ) {
    super();
    for (const [route, code] of Object.entries(handshake.dict)) this.codeToRoute.set(code, route);
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => this.onClose());
  }

  /**
   * Connects and handshakes; resolves once the handshake ack is sent.
   * @throws PinusError when the server refuses the handshake (code != 200), the socket
   *   fails or closes first, or connectTimeoutMs passes.
   */
  static connect(o: PinusClientOptions): Promise<PinusClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: o.host, port: o.port, noDelay: true });
      const reader = new PackageReader();
      let client: PinusClient | null = null;
      const fail = (msg: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new PinusError(msg));
      };
      const timer = setTimeout(() => fail(`handshake not done within ${o.connectTimeoutMs ?? 10000} ms`), o.connectTimeoutMs ?? 10000);
      socket.once('connect', () => {
        socket.write(encodePackage(PackageType.Handshake, Buffer.from(JSON.stringify({ sys: CLIENT_SYS, user: {} }))));
      });
      socket.on('error', (err) => {
        if (!client) fail(`connect ${o.host}:${o.port}: ${err.message}`);
      });
      socket.once('close', () => {
        if (!client) fail('connection closed during the handshake');
      });
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk, (p) => {
          if (client) {
            client.onPackage(p);
            return;
          }
          if (p.type !== PackageType.Handshake) return fail(`expected a handshake package, got type ${p.type}`);
          let res: { code?: number; sys?: { heartbeat?: number; dict?: Record<string, number> } };
          try {
            res = JSON.parse(p.body.toString('utf8')) as typeof res;
          } catch {
            return fail('handshake response is not JSON');
          }
          if (res.code !== 200) return fail(`handshake refused with code ${String(res.code)}`);
          clearTimeout(timer);
          const hs: PinusHandshake = { heartbeatS: res.sys?.heartbeat ?? 0, dict: res.sys?.dict ?? {} };
          client = new PinusClient(socket, hs, o.useDict ?? true);
          socket.write(encodePackage(PackageType.HandshakeAck));
          resolve(client);
        });
      });
    });
  }

  /** True once the socket has closed or close() was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Sends a request to `route` with a JSON body; resolves with the response's JSON body.
   * @throws PinusError when the connection closes first.
   */
  request(route: string, body: unknown): Promise<unknown> {
    if (this.isClosed) return Promise.reject(new PinusError('connection closed'));
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1;
    const code = this.useDict ? this.handshake.dict[route] : undefined;
    const msg = encodeMessage({ type: MessageType.Request, id, route: code ?? route, body: Buffer.from(JSON.stringify(body)) });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(encodePackage(PackageType.Data, msg));
    });
  }

  /** Closes the connection; resolves once the socket has closed. Idempotent. */
  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.socket.end();
      // A connector that keeps the socket open after our FIN is cut after a moment.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    return this.closedPromise;
  }

  private onPackage(p: PinusPackage): void {
    if (p.type === PackageType.Heartbeat) {
      // The connector answers each heartbeat at once and expects the next within 2x the
      // interval: send ours one interval after its last.
      clearTimeout(this.heartbeatTimer);
      if (this.handshake.heartbeatS > 0 && !this.isClosed) {
        this.heartbeatTimer = setTimeout(() => {
          if (!this.isClosed) this.socket.write(encodePackage(PackageType.Heartbeat));
        }, this.handshake.heartbeatS * 1000);
        this.heartbeatTimer.unref();
      }
      return;
    }
    if (p.type === PackageType.Kick) {
      this.socket.destroy();
      return;
    }
    if (p.type !== PackageType.Data) return;
    const m = decodeMessage(p.body);
    if (m.type === MessageType.Response) {
      const w = this.pending.get(m.id);
      if (!w) return;
      this.pending.delete(m.id);
      try {
        w.resolve(JSON.parse(m.body.toString('utf8')));
      } catch {
        w.reject(new PinusError(`response ${m.id} is not JSON`));
      }
    } else if (m.type === MessageType.Push) {
      const route = typeof m.route === 'number' ? (this.codeToRoute.get(m.route) ?? String(m.route)) : m.route;
      let body: unknown;
      try {
        body = JSON.parse(m.body.toString('utf8'));
      } catch {
        return;
      }
      this.emit('push', route, body);
    }
  }

  private onClose(): void {
    this.isClosed = true;
    clearTimeout(this.heartbeatTimer);
    const err = new PinusError('connection closed');
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
    this.emit('close');
  }
}
