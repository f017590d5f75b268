/**
 * Resource usage of processes the load generator did not fork itself (pinus's connector
 * and echo server, spawned by the pinus master): each connects back to a {@link UsageHub}
 * on 127.0.0.1 (port in {@link USAGE_PORT_ENV}), says hello with its name and pid, then
 * answers `usage` with sampleUsage() (ipc.ts) and exits on `stop` or when the link closes,
 * so a killed load generator leaves none of them behind. JSON lines both ways.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { sampleUsage, type ProcessUsage } from '../ipc.js';

/** Environment variable with the hub's port, inherited by the processes it watches. */
export const USAGE_PORT_ENV = 'JANUS_BENCH_USAGE_PORT';

type HubMessage = { type: 'usage'; id: number } | { type: 'stop' };
type ProcMessage = { type: 'hello'; name: string; pid: number } | { type: 'usage'; id: number; usage: ProcessUsage };

/** A process connected to the hub. */
export class LinkedProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(u: ProcessUsage): void; reject(e: Error): void }>();
  /** Resolves when the link has closed (the process exited or is exiting). */
  readonly gone: Promise<void>;

  /** @internal */
  constructor(
    readonly name: string,
    readonly pid: number,
    private readonly socket: Socket,
  ) {
    this.gone = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.gone.then(() => {
      for (const w of this.waiting.values()) w.reject(new Error(`${name} (pid ${pid}) went away`));
      this.waiting.clear();
    });
  }

  /** @internal */
  onUsage(id: number, u: ProcessUsage): void {
    const w = this.waiting.get(id);
    this.waiting.delete(id);
    w?.resolve(u);
  }

  /** Asks the process for its resource usage. */
  usage(): Promise<ProcessUsage> {
    if (this.socket.destroyed) return Promise.reject(new Error(`${this.name} (pid ${this.pid}) went away`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(JSON.stringify({ type: 'usage', id } satisfies HubMessage) + '\n');
    });
  }

  /** Asks the process to exit, SIGKILLs it after `timeoutMs` (ms); resolves when the link has closed. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.socket.destroyed) this.socket.write(JSON.stringify({ type: 'stop' } satisfies HubMessage) + '\n');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          process.kill(this.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        this.socket.destroy();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.gone, killed]);
    clearTimeout(timer);
  }
}

/** The load generator's end: a TCP server on 127.0.0.1, a free port. */
export class UsageHub {
  private readonly procs = new Map<string, LinkedProcess>();
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    /** The port to give the watched processes in {@link USAGE_PORT_ENV}. */
    readonly port: number,
  ) {}

  /** Starts the hub on 127.0.0.1, port 0. */
  static async start(): Promise<UsageHub> {
    let hub: UsageHub | null = null;
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      let proc: LinkedProcess | null = null;
      createInterface({ input: socket }).on('line', (line) => {
        let m: ProcMessage;
        try {
          m = JSON.parse(line) as ProcMessage;
        } catch {
          return;
        }
        if (m.type === 'hello' && !proc && hub) {
          proc = new LinkedProcess(m.name, m.pid, socket);
          hub.procs.set(m.name, proc);
          for (const w of hub.waiters.splice(0)) w();
        } else if (m.type === 'usage' && proc) {
          proc.onUsage(m.id, m.usage);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    hub = new UsageHub(server, typeof addr === 'object' && addr ? addr.port : 0);
    return hub;
  }

  /** The processes that said hello, by name. */
  get processes(): ReadonlyMap<string, LinkedProcess> {
    return this.procs;
  }

  /** Resolves once every name in `names` has said hello (no timeout: race it). */
  async waitFor(names: readonly string[]): Promise<LinkedProcess[]> {
    while (!names.every((n) => this.procs.has(n))) await new Promise<void>((r) => this.waiters.push(r));
    return names.map((n) => this.procs.get(n)!);
  }

  /** Stops every linked process (see LinkedProcess.stop) and closes the hub. */
  async close(timeoutMs: number): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop(timeoutMs)));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The watched process's end: connects to the hub named by {@link USAGE_PORT_ENV}, and
 * returns a function that says hello (call it once the process is ready). Exits the
 * process on `stop` (code 0) or when the link closes (code 1).
 * @throws Error when the environment variable is missing.
 */
export function linkToHub(name: string): () => void {
  const port = Number(process.env[USAGE_PORT_ENV]);
  if (!(port > 0)) throw new Error(`${USAGE_PORT_ENV} is not set`);
  const socket = netConnect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => process.exit(1));
  socket.on('close', () => process.exit(1));
  createInterface({ input: socket }).on('line', (line) => {
    let m: HubMessage;
    try {
      m = JSON.parse(line) as HubMessage;
    } catch {
      return;
    }
    if (m.type === 'usage') socket.write(JSON.stringify({ type: 'usage', id: m.id, usage: sampleUsage() } satisfies ProcMessage) + '\n');
    else if (m.type === 'stop') process.exit(0);
  });
  return () => {
    socket.write(JSON.stringify({ type: 'hello', name, pid: process.pid } satisfies ProcMessage) + '\n');
  };
}
