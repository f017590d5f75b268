/**
 * A real `etcd` process for tests (Debian's etcd-server, installed by
 * scripts/install-test-tools.sh): one member on free 127.0.0.1 ports with a temp data dir.
 * `kill()` and `restart()` take it down and bring it back on the same ports and data, as an
 * operator's restart would; `stop()` ends it and removes the data dir (tests call it in
 * after/t.after).
 *
 * If the test process itself dies, a watchdog shell (its stdin a pipe from this process)
 * sees the pipe close and SIGKILLs etcd, so no etcd outlives its test run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { Etcd3 } from 'etcd3';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Log line etcd 3.4+ writes once it serves client requests. */
const READY = 'serving client traffic';
const START_TIMEOUT_MS = 20_000;

/** Two distinct free ports on 127.0.0.1 (held open together so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = createServer();
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A running (or killed) etcd member. */
export class EtcdServer {
  private proc: ChildProcess | null = null;
  private watchdog: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
  ) {}

  /** The client URL, e.g. `http://127.0.0.1:40123`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.proc !== null;
  }

  /**
   * Starts a member on free ports and waits until it serves clients.
   * @throws Error when etcd is missing or does not become ready within 20 s (its output quoted).
   */
  static async start(): Promise<EtcdServer> {
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = await freePorts(2);
      const s = new EtcdServer(clientPort!, peerPort!, mkdtempSync(join(tmpdir(), 'janus-etcd-')));
      try {
        await s.launch();
        return s;
      } catch (err) {
        await s.stop();
        // Another process took a probed port between the probe and etcd's bind: try new ones.
        if (attempt < 3 && /address already in use/.test(s.output)) continue;
        throw err;
      }
    }
  }

  private launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const proc = spawn(
      'etcd',
      [
        '--name', 'janus-test',
        '--data-dir', this.dataDir,
        '--logger', 'zap',
        '--log-outputs', 'stderr',
        '--listen-client-urls', this.endpoint,
        '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `janus-test=${peer}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    this.output = '';
    // If this test process dies, the pipe to the watchdog closes and it kills etcd.
    this.watchdog = spawn('sh', ['-c', `read _ ; kill -9 ${proc.pid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.watchdog.on('error', () => {});
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`etcd not ready within ${START_TIMEOUT_MS} ms:\n${this.output.slice(-2000)}`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        if (this.output.length < 200_000) this.output += chunk.toString();
        if (!ready && this.output.includes(READY)) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run etcd (install Debian's etcd-server: scripts/install-test-tools.sh): ${err.message}`));
      });
      proc.on('exit', (code, signal) => {
        if (this.proc === proc) this.proc = null;
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`etcd exited (${code ?? signal}) before it was ready:\n${this.output.slice(-2000)}`));
        }
      });
    });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const w = this.watchdog;
    this.watchdog = null;
    if (w && w.exitCode === null && w.signalCode === null) {
      const gone = once(w, 'exit');
      w.kill('SIGKILL');
      await gone;
    }
    const p = this.proc;
    if (!p) return;
    const exited = once(p, 'exit');
    p.kill(signal);
    await exited;
    this.proc = null;
  }

  /** SIGKILLs etcd (no clean shutdown) and waits for it to exit; data dir and ports kept. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  /** Starts etcd again on the same ports and data dir, after kill(). */
  async restart(): Promise<void> {
    if (this.proc) throw new Error('etcd is still running');
    await this.launch();
  }

  /** Stops etcd (if running) and removes its data dir. Idempotent. */
  async stop(): Promise<void> {
    await this.end('SIGTERM');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** One etcd for a test file; see {@link etcdPerFile}. */
export interface EtcdFixture {
  /** The server (set once before() ran). */
  readonly server: EtcdServer;
  /** A plain etcd3 client on it, for the test's own reads and writes. */
  readonly raw: Etcd3;
  /** A key prefix no other test of the file uses, e.g. `/e2e-3`. */
  prefix(tag: string): string;
  /** The value at `key` once it exists (now, or at its put). */
  present(key: string): Promise<string>;
  /** Resolves once `key` is absent (now, or at its deletion). */
  gone(key: string): Promise<void>;
}

/** Resolves with `now()` when it is not undefined, else at the watch's first `event` on `key`. */
async function watchFor<T>(raw: Etcd3, key: string, event: 'put' | 'delete', now: () => Promise<T | undefined>, fromEvent: (v: string) => T): Promise<T> {
  const w = await raw.watch().key(key).create();
  try {
    const seen = new Promise<T>((resolve) => w.once(event, (kv: { value: Buffer }) => resolve(fromEvent(kv.value.toString()))));
    return (await now()) ?? (await seen);
  } finally {
    await w.cancel();
  }
}

/** Starts one etcd in the file's before() and stops it (and the raw client) in its after(). */
export function etcdPerFile(): EtcdFixture {
  let server: EtcdServer | null = null;
  let raw: Etcd3 | null = null;
  let n = 0;
  before(async () => {
    server = await EtcdServer.start();
    raw = new Etcd3({ hosts: server.endpoint });
  });
  after(async () => {
    raw?.close();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('etcd is not started yet (use it inside a test)');
      return server;
    },
    get raw() {
      if (!raw) throw new Error('etcd is not started yet (use it inside a test)');
      return raw;
    },
    prefix: (tag) => `/${tag}-${++n}`,
    present(key) {
      const r = this.raw;
      return watchFor(r, key, 'put', async () => (await r.get(key).string()) ?? undefined, (v) => v);
    },
    async gone(key) {
      const r = this.raw;
      await watchFor(r, key, 'delete', async () => ((await r.get(key).string()) === null ? true : undefined), () => true);
    },
  };
}
