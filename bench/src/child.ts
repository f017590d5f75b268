/**
 * The parent side of the IPC contract in ipc.ts: forks a child program, waits for its
 * `ready` ports, asks for its resource usage, and stops it (gracefully, then SIGKILL).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { ChildMessage, ParentMessage, ProcessUsage } from './ipc.js';

/** How to start a child. */
export interface ChildSpec {
  /** Name used in messages and as the output line prefix, e.g. `gateway`. */
  name: string;
  /** The program (a compiled module next to this one). */
  script: URL;
  /** Extra environment (added to this process's). */
  env?: Record<string, string>;
  /** Node flags for the child (e.g. `--cpu-prof`). Default none. */
  execArgv?: string[];
  /** Wait for `ready` at most this long (ms). Default 15000. */
  readyTimeoutMs?: number;
  /** Receives each line the child writes to stdout or stderr. Default: ignored. */
  onLine?: (line: string) => void;
}

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_LINES = 20;

/** A running child process. */
export class BenchChild {
  /** Ports the child reported in `ready`. */
  ports: Record<string, number> = {};
  /** Resolves when the process has exited (for whatever reason). */
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(u: ProcessUsage): void; reject(e: JanusError): void }>();
  private readonly calling = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly tail: string[] = [];

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    onLine: (line: string) => void,
  ) {
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        onLine(line);
      });
    }
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        const err = this.exitError();
        for (const w of this.waiting.values()) w.reject(err);
        this.waiting.clear();
        for (const w of this.calling.values()) w.reject(err);
        this.calling.clear();
        resolve(this.exit);
      });
    });
    proc.on('message', (m: ChildMessage) => {
      if (m.type === 'result') {
        const c = this.calling.get(m.id);
        this.calling.delete(m.id);
        if (m.error !== undefined) c?.reject(new Error(`${this.name}: ${m.error}`));
        else c?.resolve(m.value);
        return;
      }
      if (m.type !== 'usage') return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.resolve(m.usage);
    });
  }

  /**
   * Forks the child and waits for its `ready` message.
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the child reports `failed`, exits,
   *   or is not ready within readyTimeoutMs (the child is then killed); the message carries
   *   the child's last output lines.
   */
  static async start(spec: ChildSpec): Promise<BenchChild> {
    const proc = fork(fileURLToPath(spec.script), [], {
      env: { ...process.env, ...spec.env },
      execArgv: spec.execArgv ?? [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const child = new BenchChild(spec.name, proc, spec.onLine ?? (() => {}));
    const timeoutMs = spec.readyTimeoutMs ?? 15000;
    let timer: NodeJS.Timeout | undefined;
    try {
      child.ports = await new Promise<Record<string, number>>((resolve, reject) => {
        proc.on('message', (m: ChildMessage) => {
          if (m.type === 'ready') resolve(m.ports);
          else if (m.type === 'failed') reject(new JanusError(ErrorCode.ConnectionClosed, `${spec.name} failed to start: ${m.message}`));
        });
        proc.once('error', (err) => reject(new JanusError(ErrorCode.ConnectionClosed, `${spec.name}: ${err.message}`, {}, { cause: err })));
        void child.exited.then(() => reject(child.exitError()));
        timer = setTimeout(() => reject(new JanusError(ErrorCode.ConnectionClosed, `${spec.name} not ready within ${timeoutMs} ms`)), timeoutMs);
      });
    } catch (err) {
      child.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return child;
  }

  /** The child's process id. */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /**
   * Asks the child for its resource usage.
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the child has exited.
   */
  usage(): Promise<ProcessUsage> {
    if (this.exit || !this.proc.connected) return Promise.reject(this.exitError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const msg: ParentMessage = { type: 'usage', id };
      this.proc.send(msg);
    });
  }

  /**
   * Runs the child's call `name` (ChildServer.calls in ipc.ts) with `arg`.
   * @throws Error when the call fails in the child; JanusError JANUS_ERR_CONNECTION_CLOSED when the child has exited.
   */
  call<T>(name: string, arg?: unknown): Promise<T> {
    if (this.exit || !this.proc.connected) return Promise.reject(this.exitError());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calling.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const msg: ParentMessage = { type: 'call', id, name, arg: arg ?? null };
      this.proc.send(msg);
    });
  }

  /**
   * Graceful stop: asks the child to close its server and exit, and kills it (SIGKILL)
   * when it has not exited within `timeoutMs`. Resolves when it has exited. Idempotent.
   */
  async stop(timeoutMs: number): Promise<ChildExit> {
    if (this.exit) return this.exit;
    if (this.proc.connected) {
      const msg: ParentMessage = { type: 'stop' };
      this.proc.send(msg);
    } else {
      this.kill();
    }
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }

  /** Kills the child at once (SIGKILL) if it still runs. */
  kill(): void {
    if (!this.exit) this.proc.kill('SIGKILL');
  }

  /** The error describing this child's exit, with its last output lines. */
  exitError(): JanusError {
    const how = this.exit ? (this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`) : 'IPC channel closed';
    const tail = this.tail.length ? `; last output:\n  ${this.tail.join('\n  ')}` : '';
    return new JanusError(ErrorCode.ConnectionClosed, `${this.name} process exited (${how})${tail}`, { child: this.name, ...this.exit });
  }
}
