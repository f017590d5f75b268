/**
 * The IPC contract between the load generator and its child processes (gateway-proc,
 * backend-proc), and the child side of it.
 *
 * A child is started with `child_process.fork` (an IPC channel), starts its server, then
 * sends `ready` with the bound ports (or `failed`). Afterwards it answers `usage` requests
 * with its own resource usage and, on `stop`, closes its server gracefully and exits 0.
 * When the parent goes away (IPC channel closed) the child exits at once, so a crashed or
 * killed load generator leaves no server behind.
 */
import type { Server, Socket } from 'node:net';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** Environment variable carrying the gateway child's config as JSON (gateway-proc.ts). */
export const GATEWAY_CONFIG_ENV = 'JANUS_BENCH_GATEWAY_CONFIG';

/** Environment variable with the port the backend child binds (backend-proc.ts); default 0, a free port. */
export const BACKEND_PORT_ENV = 'JANUS_BENCH_BACKEND_PORT';

/** Resource usage of a child at one instant. */
export interface ProcessUsage {
  /** process.hrtime.bigint() of the child when sampled, as nanoseconds in a decimal string. */
  atNs: string;
  /** process.cpuUsage(): user and system CPU time since start (microseconds). */
  cpu: { user: number; system: number };
  /** Resident set size now (bytes). */
  rssBytes: number;
  /** Peak resident set size since start (bytes; getrusage maxrss). */
  maxRssBytes: number;
  /** V8 heap in use now (bytes). */
  heapUsedBytes: number;
  /** performance.eventLoopUtilization() since start (ms of idle and active time). */
  elu: { idle: number; active: number };
}

/** Parent -> child. `call` runs one of the child's named {@link ChildServer.calls}. */
export type ParentMessage = { type: 'usage'; id: number } | { type: 'stop' } | { type: 'call'; id: number; name: string; arg: unknown };

/** Child -> parent. `result` answers a `call` (`error` set when it failed). */
export type ChildMessage =
  | { type: 'ready'; ports: Record<string, number> }
  | { type: 'failed'; message: string }
  | { type: 'usage'; id: number; usage: ProcessUsage }
  | { type: 'result'; id: number; value?: unknown; error?: string };

/** Samples this process's {@link ProcessUsage}. */
export function sampleUsage(): ProcessUsage {
  const mem = process.memoryUsage();
  const elu: EventLoopUtilization = performance.eventLoopUtilization();
  return {
    atNs: process.hrtime.bigint().toString(),
    cpu: process.cpuUsage(),
    rssBytes: mem.rss,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedBytes: mem.heapUsed,
    elu: { idle: elu.idle, active: elu.active },
  };
}

function send(msg: ChildMessage): void {
  process.send?.(msg);
}

/** A server a child runs. */
export interface ChildServer {
  /** Bound ports by name, reported in `ready`. */
  ports: Record<string, number>;
  /** Graceful stop. */
  close(): Promise<void>;
  /** Extra requests the parent may make by name (BenchChild.call); values must be serializable. */
  calls?: Record<string, (arg: unknown) => unknown>;
}

/**
 * Runs the child side of the contract: starts the server with `start`, reports `ready`
 * (or `failed` and exit code 1), serves `usage` and `stop`, and exits when the parent's
 * IPC channel closes. Must be called in a process started with an IPC channel.
 */
export function serveChild(start: () => Promise<ChildServer>): void {
  if (!process.send) {
    console.error('this program is started by the load generator (bench/src/load.ts), not by hand');
    process.exitCode = 2;
    return;
  }
  let server: ChildServer | null = null;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    try {
      await server?.close();
    } finally {
      // process.exit (not a kill) so --cpu-prof writes its profile.
      process.exit(0);
    }
  };
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'usage') send({ type: 'usage', id: m.id, usage: sampleUsage() });
    else if (m.type === 'stop') void stop();
    else if (m.type === 'call') {
      const fn = server?.calls?.[m.name];
      Promise.resolve()
        .then(() => {
          if (!fn) throw new Error(`no call named ${m.name}`);
          return fn(m.arg);
        })
        .then(
          (value: unknown) => send({ type: 'result', id: m.id, value }),
          (err: unknown) => send({ type: 'result', id: m.id, error: err instanceof Error ? err.message : String(err) }),
        );
    }
  });
  process.on('disconnect', () => process.exit(1));
  // The parent owns the lifetime: a terminal's Ctrl-C reaches the whole process group, and
  // the parent then stops its children in order.
  process.on('SIGINT', () => {});
  start().then(
    (s) => {
      server = s;
      send({ type: 'ready', ports: s.ports });
    },
    (err: unknown) => {
      const msg: ChildMessage = { type: 'failed', message: err instanceof Error ? err.message : String(err) };
      process.send!(msg, () => process.exit(1));
    },
  );
}

/**
 * Listens with `server` on 127.0.0.1 and a free port and returns it as a {@link ChildServer}
 * with ports `{ tcp }`, whose close destroys every socket in `sockets` (the server's own
 * connections, which the caller adds and removes: a Set, or a Map by any key) and then
 * closes the server.
 * @throws the listen error.
 */
export async function loopbackTcpChild(server: Server, sockets: { values(): Iterable<Socket> }): Promise<ChildServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  return {
    ports: { tcp: typeof addr === 'object' && addr ? addr.port : 0 },
    close: async () => {
      for (const s of sockets.values()) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
