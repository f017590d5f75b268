/**
 * A "backend" that accepts TCP connections and never says a word (no HTTP/2 SETTINGS, no
 * FIN, no RST): a process whose listener still accepts while it is hung, or a port taken by
 * something that is not a gRPC server. The accepted connections stay open until close().
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/** The mute listener and the connections it accepted. */
export class MuteBackend {
  private readonly sockets = new Set<Socket>();
  private accepted = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  /** The port it listens (or listened) on. */
  readonly port: number;

  private constructor(private readonly server: Server) {
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  /** Listens on 127.0.0.1:`port` (0: a free port). */
  static async start(port = 0): Promise<MuteBackend> {
    const server = createServer({ pauseOnConnect: true });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const mute = new MuteBackend(server);
    server.on('connection', (s) => mute.accept(s));
    return mute;
  }

  /** Connections accepted so far (count). */
  get acceptedCount(): number {
    return this.accepted;
  }

  /** Resolves once `n` connections have been accepted in all. */
  acceptedAtLeast(n: number): Promise<void> {
    if (this.accepted >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Stops listening (the port is free for another server) and keeps the accepted connections open. */
  stopListening(): void {
    // The server's 'close' waits for the accepted connections: nothing to wait for here.
    if (this.server.listening) this.server.close();
  }

  /** Destroys every accepted connection and stops listening. */
  close(): void {
    for (const s of this.sockets) s.destroy();
    if (this.server.listening) this.server.close();
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    this.accepted++;
    s.on('error', () => {});
    s.on('close', () => this.sockets.delete(s));
    for (const w of this.waiters.filter((x) => x.n <= this.accepted)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}
