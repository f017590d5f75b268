/**
 * Real redis-server processes for tests (scripts/install-test-tools.sh installs Debian's
 * redis-server): one server, or a small Redis Cluster of three masters, on free loopback
 * ports, with no persistence, in a temp dir. Every server a test starts is stopped by the
 * test (`stop()` in t.after / after); a server still running when the test process exits is
 * killed then.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (and, for cluster nodes, its bus port + 10000 too). */
async function freePort(alsoBus = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await listenFree(0);
    if (!alsoBus) return port;
    if (port + 10000 < 65536 && (await listenFree(port + 10000).catch(() => 0)) !== 0) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

function listenFree(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** One redis-server process. */
export class RedisServer {
  private proc: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly clusterEnabled: boolean,
    private readonly extraArgs: readonly string[],
  ) {}

  /** `127.0.0.1:port`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Starts a server on a free loopback port; resolves once it accepts connections.
   * `args`: more redis-server arguments (config directives, e.g. `--user janus on ...`),
   * kept for restart().
   */
  static async start(o: { cluster?: boolean; args?: readonly string[] } = {}): Promise<RedisServer> {
    const s = new RedisServer(await freePort(o.cluster), mkdtempSync(join(tmpdir(), 'janus-redis-')), o.cluster ?? false, o.args ?? []);
    await s.spawn();
    return s;
  }

  private async spawn(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--loglevel', 'notice',
    ];
    args.push(...this.extraArgs);
    if (this.clusterEnabled) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          proc.stdout!.off('data', onData);
          proc.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => reject(new Error(`redis-server on ${this.port} exited (${code}) before it was ready: ${out.slice(-500)}`));
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      proc.once('exit', onExit);
      proc.once('error', reject);
    });
    proc.stdout!.resume();
    this.proc = proc;
  }

  /** SIGKILLs the server (no shutdown of its own) and waits until it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = once(p, 'exit');
    p.kill('SIGKILL');
    await gone;
  }

  /** Starts the server again on the same port (after kill(); empty: nothing persisted). */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Stops the server and removes its directory. Idempotent. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = once(p, 'exit');
      p.kill('SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster of three masters (no replicas), all slots assigned. */
export interface RedisCluster {
  nodes: RedisServer[];
  /** Seed nodes (`host:port`) for a cluster client. */
  seeds: string[];
  stop(): Promise<void>;
}

/**
 * Starts three cluster-enabled servers and joins them with `redis-cli --cluster create`
 * (which returns once every node agrees on the slots). A client should still wait for its
 * own 'ready' (ioredis checks CLUSTER INFO).
 */
export async function startRedisCluster(o: { args?: readonly string[] } = {}): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) nodes.push(await RedisServer.start({ cluster: true, ...(o.args ? { args: o.args } : {}) }));
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.status !== 0 || !/All 16384 slots covered/.test(r.stdout)) throw new Error(`redis-cli --cluster create failed: ${r.stdout.slice(-500)} ${r.stderr}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, seeds: nodes.map((n) => n.address), stop };
}
