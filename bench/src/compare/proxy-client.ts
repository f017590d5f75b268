/**
 * The load generator's client of the plain proxy baseline (framing.ts): requests carry an
 * id, replies are matched by it; pushes are handed to a listener.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { BODY_HEAD_BYTES, encodeBodyFrame, FrameReader, ProxyKind } from './framing.js';

/** Error of a proxy request (the connection closed first). */
export class ProxyClientError extends Error {}

const MAX_ID = 0xffffffff;

/** One client connection to the proxy. */
export class ProxyClient {
  private readonly pending = new Map<number, { resolve(body: Buffer): void; reject(e: Error): void }>();
  private nextId = 1;
  private isClosed = false;
  private pushFn: (text: Buffer) => void = () => {};
  private readonly closedPromise: Promise<void>;

  private constructor(private readonly socket: Socket) {
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk, (body) => {
        if (body[0] === ProxyKind.Push) {
          this.pushFn(body.subarray(BODY_HEAD_BYTES));
          return;
        }
        const id = body.readUInt32BE(1);
        const w = this.pending.get(id);
        if (!w) return;
        this.pending.delete(id);
        w.resolve(body);
      });
    });
    socket.on('error', () => socket.destroy());
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        const err = new ProxyClientError('connection closed');
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
        resolve();
      });
    });
  }

  /**
   * Connects to the proxy at host:port.
   * @throws Error when the connection fails.
   */
  static connect(host: string, port: number): Promise<ProxyClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port, noDelay: true });
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new ProxyClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** True once the connection is gone or close() was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Sends a body of `kind` with `data` and the next id; resolves with the reply's body
   * (kind, id, data; a view valid until the next read).
   * @throws ProxyClientError when the connection closes first.
   */
  request(kind: number, data: Uint8Array): Promise<Buffer> {
    if (this.isClosed) return Promise.reject(new ProxyClientError('connection closed'));
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(encodeBodyFrame(kind, id, data));
    });
  }

  /** Receives the data of every Push (a view valid during the call). */
  onPush(fn: (text: Buffer) => void): void {
    this.pushFn = fn;
  }

  /** Closes the connection; resolves once closed. Idempotent. */
  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    return this.closedPromise;
  }
}
