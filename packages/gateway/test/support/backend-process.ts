/**
 * The demo backend as a child process (examples/demo-backend/dist/src/main.js), so a test
 * can do to it what happens to real backends: SIGKILL, SIGSTOP / SIGCONT, SIGTERM, and a
 * restart on the same port. Every process started here is stopped by stop() (SIGCONT first
 * when it was stopped, then SIGKILL), which tests call in t.after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientEvents, JanusClient } from '@janus/client';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.resolve('@janus/demo-backend')));

/** One demo backend process. */
export class BackendProcess {
  private stopped = false;
  /** Resolves with the exit code or signal once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;

  private constructor(
    private readonly child: ChildProcess,
    /** The port it listens on. */
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code ?? 0)));
  }

  /**
   * Starts the demo backend on 127.0.0.1:`port` (0: a free port) and resolves once it
   * prints that it listens.
   * @throws Error when it exits first (for example the port is taken).
   */
  static async start(port = 0): Promise<BackendProcess> {
    const child = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const listening = new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code, signal) => reject(new Error(`demo backend exited (${signal ?? code}) before listening: ${err.trim()}`)));
    });
    return new BackendProcess(child, await listening);
  }

  /** The process id (for the record: the test signals it through the methods below). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** SIGKILL: the kernel closes its sockets, nothing runs in the process. Resolves on exit. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP: the process freezes with its sockets open; the kernel still accepts TCP connections. */
  freeze(): void {
    this.signal('SIGSTOP');
    this.stopped = true;
  }

  /** SIGCONT after freeze(). */
  thaw(): void {
    this.signal('SIGCONT');
    this.stopped = false;
  }

  /** SIGTERM: the demo backend's graceful stop (every stream ends with OK). Resolves on exit. */
  async terminate(): Promise<void> {
    this.signal('SIGTERM');
    await this.exited;
  }

  /** Stops the process whatever its state (SIGCONT first if frozen, then SIGKILL). Idempotent. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.stopped) this.thaw();
    this.signal('SIGKILL');
    await this.exited;
  }

  private signal(s: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(s);
  }
}

/** Waits for `emitter` to emit `event`, failing after `ms` (a guard, not a sleep). */
export function eventWithin<E extends keyof ClientEvents>(client: JanusClient, event: E, ms: number): Promise<ClientEvents[E][0]> {
  return new Promise((resolve, reject) => {
    const on = (...args: ClientEvents[E]): void => {
      clearTimeout(timer);
      resolve(args[0]);
    };
    const timer = setTimeout(() => {
      client.off(event, on as never);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    client.once(event, on as never);
  });
}
