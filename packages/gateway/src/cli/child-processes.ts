/**
 * A small launcher for the processes of `janus demo --cluster`: redis-server and etcd on
 * loopback ports with temp data dirs and no persistence, and Node children (gateways,
 * backends). Each child runs in its own process group (a Ctrl-C in the terminal reaches
 * only the demo, which then stops the children in order), and a watchdog shell per child
 * SIGKILLs it when the demo process dies without stopping it (its stdin pipe closes).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { ErrorCode, JanusError } from '@janus/protocol';

/** How long a child may take to print its ready line (ms). */
const READY_TIMEOUT_MS = 30_000;
/** How long a child may take to exit after SIGTERM before it gets SIGKILL (ms). */
const STOP_TIMEOUT_MS = 15_000;

/**
 * Checks that `binary` is an executable on PATH.
 * @param aptPackage the Debian/Ubuntu package that installs it, for the message.
 * @throws JanusError JANUS_ERR_ARG_INVALID naming the binary and the package when it is not.
 */
export function requireBinary(binary: string, aptPackage: string, command: string): void {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return;
    } catch {
      // not in this directory
    }
  }
  throw new JanusError(ErrorCode.ArgInvalid, `${command} needs ${binary}, which is not installed (not on PATH): apt-get install ${aptPackage}`, { binary, package: aptPackage });
}

/**
 * `n` distinct free TCP ports on 127.0.0.1 (held open together, then released; another
 * process may still take one before it is used).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** A started child process. */
export interface Child {
  /** A short name for messages, e.g. `gateway-1`. */
  readonly name: string;
  readonly pid: number;
  /** The text of the line that said it is ready. */
  readonly readyLine: string;
  /** SIGTERM, then SIGKILL after 15 s; resolves once it exited. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startChild}. */
export interface ChildOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** True for the line (of stdout or stderr) that says the child is ready. */
  ready: (line: string) => boolean;
  /** Every line after the ready one (stdout and stderr); default: dropped. */
  onLine?: (line: string) => void;
}

/**
 * Spawns a child and resolves once it printed its ready line.
 * @throws JanusError JANUS_ERR_ARG_INVALID when it cannot be spawned, exits before it is
 *   ready, or is not ready within 30 s (its last output quoted; it is killed then).
 */
export async function startChild(o: ChildOptions): Promise<Child> {
  const proc = spawn(o.command, o.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const watchdog = proc.pid === undefined ? null : spawn('sh', ['-c', `read _ ; kill -9 -${proc.pid} 2>/dev/null; kill -9 ${proc.pid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  watchdog?.on('error', () => {});
  let output = '';
  let ready: string | null = null;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ended = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
  const stopWatchdog = async (): Promise<void> => {
    if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) {
      const gone = once(watchdog, 'exit');
      watchdog.kill('SIGKILL');
      await gone;
    }
  };
  const readyLine = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new JanusError(ErrorCode.ArgInvalid, `${o.name} not ready within ${READY_TIMEOUT_MS} ms: ${output.slice(-1500)}`)), READY_TIMEOUT_MS);
    const onChunk = (buf: string, chunk: Buffer): string => {
      const text = buf + chunk.toString();
      const lines = text.split('\n');
      for (const line of lines.slice(0, -1)) {
        if (ready === null) {
          if (output.length < 20_000) output += line + '\n';
          if (o.ready(line)) {
            ready = line;
            clearTimeout(timer);
            resolve(line);
          }
        } else {
          o.onLine?.(line);
        }
      }
      return lines[lines.length - 1]!;
    };
    let outBuf = '';
    let errBuf = '';
    proc.stdout!.on('data', (c: Buffer) => (outBuf = onChunk(outBuf, c)));
    proc.stderr!.on('data', (c: Buffer) => (errBuf = onChunk(errBuf, c)));
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new JanusError(ErrorCode.ArgInvalid, `cannot run ${o.command} (${o.name}): ${err.message}`, {}, { cause: err }));
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (ready === null) reject(new JanusError(ErrorCode.ArgInvalid, `${o.name} exited (${code ?? signal}) before it was ready: ${output.slice(-1500)}`));
    });
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (!ended()) {
        proc.kill('SIGTERM');
        const guard = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(guard);
      }
      await stopWatchdog();
    })());
  try {
    const line = await readyLine;
    return { name: o.name, pid: proc.pid!, readyLine: line, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Starts redis-server on 127.0.0.1:`port` with `dir` as its working dir and no persistence
 * (no RDB snapshots, no AOF); ready at its "Ready to accept connections".
 * @throws JanusError as {@link startChild}.
 */
export function startRedisServer(port: number, dir: string): Promise<Child> {
  return startChild({
    name: 'redis-server',
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no'],
    ready: (line) => line.includes('Ready to accept connections'),
  });
}

/**
 * Starts a one-member etcd with client URL http://127.0.0.1:`clientPort`, peer URL on
 * `peerPort` and data in `dataDir`; ready at its "serving client traffic" log line.
 * @throws JanusError as {@link startChild}.
 */
export function startEtcd(clientPort: number, peerPort: number, dataDir: string): Promise<Child> {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return startChild({
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name', 'janus-demo',
      '--data-dir', dataDir,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `janus-demo=${peer}`,
    ],
    ready: (line) => line.includes('serving client traffic'),
  });
}
