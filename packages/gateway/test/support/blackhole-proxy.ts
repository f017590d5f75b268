/**
 * A TCP proxy for backend tests: forwards 127.0.0.1:port to a target until `freeze()`, then
 * silently drops every byte in both directions while keeping the sockets open (no FIN, no
 * RST): a backend host that vanished from the network. It also reads the HTTP/2 frame
 * headers going by, so a test can wait for a keepalive PING answered through it.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

const PREFACE_BYTES = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", client to server only
const FRAME_HEADER_BYTES = 9;
const PING = 0x6;
const ACK = 0x1;

/** Calls `onFrame(type, flags)` for each HTTP/2 frame in a byte stream. */
class FrameWatcher {
  private buf: Buffer = Buffer.alloc(0);
  private skip: number;

  constructor(
    preface: boolean,
    private readonly onFrame: (type: number, flags: number) => void,
  ) {
    this.skip = preface ? PREFACE_BYTES : 0;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        this.skip -= n;
        this.buf = this.buf.subarray(n);
        if (this.skip > 0) return;
      }
      if (this.buf.length < FRAME_HEADER_BYTES) return;
      const length = this.buf.readUIntBE(0, 3);
      this.onFrame(this.buf[3]!, this.buf[4]!);
      this.skip = FRAME_HEADER_BYTES + length;
    }
  }
}

/** The proxy. */
export class BlackholeProxy {
  private readonly sockets = new Set<Socket>();
  private frozen = false;
  private ackWaiters: (() => void)[] = [];
  /** PINGs from the gateway side / PING ACKs from the backend side seen while forwarding. */
  pings = 0;
  pingAcks = 0;
  /** Bytes dropped since freeze() (both directions). */
  dropped = 0;

  private constructor(private readonly server: Server) {}

  /** Starts a proxy on 127.0.0.1 (port 0) to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<BlackholeProxy> {
    const server = createServer();
    const proxy = new BlackholeProxy(server);
    server.on('connection', (down) => proxy.accept(down, targetPort));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Resolves at the next PING ACK the backend sends through the proxy. */
  nextPingAck(): Promise<void> {
    return new Promise((resolve) => this.ackWaiters.push(resolve));
  }

  /** From now on nothing is forwarded, on open or new connections; nothing is closed either. */
  freeze(): void {
    this.frozen = true;
  }

  /** Destroys every socket and stops listening. */
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private accept(down: Socket, targetPort: number): void {
    const up = connect(targetPort, '127.0.0.1');
    for (const s of [down, up]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.sockets.delete(s));
    }
    const fromGateway = new FrameWatcher(true, (type, flags) => {
      if (type === PING && !(flags & ACK)) this.pings++;
    });
    const fromBackend = new FrameWatcher(false, (type, flags) => {
      if (type === PING && flags & ACK) {
        this.pingAcks++;
        for (const w of this.ackWaiters.splice(0)) w();
      }
    });
    const pipe = (from: Socket, to: Socket, watcher: FrameWatcher): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.frozen) {
          this.dropped += chunk.length;
          return;
        }
        watcher.push(chunk);
        to.write(chunk);
      });
      // Before the freeze an end passes through; after it, nothing does (no FIN, no RST).
      from.on('end', () => {
        if (!this.frozen) to.end();
      });
    };
    pipe(down, up, fromGateway);
    pipe(up, down, fromBackend);
  }
}
