/**
 * `janus demo --cluster` as a newcomer runs it, on free ports: two gateways on a real
 * redis-server and etcd that the demo starts itself. The same uid logged in on both
 * gateways with the client SDK: the first gets ServerLogout ConflictingLogin, and its
 * player counter goes on across gateways (one sticky player instance). SIGINT stops every
 * process the demo started and removes its temp dir. Without redis-server or etcd on PATH
 * it refuses with one line naming the binary and its apt package.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { JanusClient, SCServerLogout_Code as Code, type CloseReason } from '@janus/client';
import { AuthToken_Status, sealToken } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { loadClientKeys } from '../src/cli/client-command.js';
import { clusterAdminToken } from '../src/cli/demo-cluster.js';
import { readTokenKeyFile } from '../src/cli/keyfiles.js';
import { JANUS, runJanus, runJanusWith } from './support/janus-cli.js';

const dec = new TextDecoder();

/** The pids of every live descendant of `pid` (from /proc), with their command lines. */
function descendants(pid: number): Map<number, string> {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found = new Map<number, string>();
  let frontier = [pid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [p, pp] of parent) {
      if (frontier.includes(pp) && !found.has(p)) {
        found.set(p, readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
        next.push(p);
      }
    }
    frontier = next;
  }
  return found;
}

/** Whether `pid` runs (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The named processes of the demo's banner: [name, pid]. */
function namedProcesses(banner: string): [string, number][] {
  return /processes: (.+); data in/.exec(banner)![1]!.split(', ').map((s) => {
    const [name, pid] = s.split(' ');
    return [name!, Number(pid)];
  });
}

/** Starts the demo and resolves with its output once it printed "Ctrl-C stops everything.". */
async function startDemo(t: TestContext, keyDir: string): Promise<{ proc: ChildProcess; banner: string; stdout: () => string; stderr: () => string }> {
  const proc = spawn(process.execPath, [JANUS, 'demo', '--cluster', '--port-base', '0', '--keys', keyDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  // A demo still running after a failed test: SIGKILL; its watchdogs then kill its children.
  t.after(() => void (proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL')));
  const banner = await new Promise<string>((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      if (stdout.includes('Ctrl-C stops everything.')) resolve(stdout);
    });
    proc.once('exit', (code) => reject(new Error(`demo exited (${code}) before it was up:\n${stdout}\n${stderr}`)));
  });
  return { proc, banner, stdout: () => stdout, stderr: () => stderr };
}

function gatewayPorts(banner: string, n: number): { tcp: number; ws: number; management: number } {
  const m = new RegExp(`gateway-${n}: TCP 127\\.0\\.0\\.1:(\\d+), WebSocket ws://127\\.0\\.0\\.1:(\\d+)/ws, management http://127\\.0\\.0\\.1:(\\d+)`).exec(banner);
  assert.ok(m, `no gateway-${n} line in:\n${banner}`);
  return { tcp: Number(m[1]), ws: Number(m[2]), management: Number(m[3]) };
}

describe('janus demo --cluster', () => {
  it('runs two gateways on redis-server and etcd: single login across them, SIGINT (twice, as under npm) stops every process', { timeout: 60_000 }, async (t) => {
    const keyDir = mkdtempSync(join(tmpdir(), 'janus-cluster-keys-'));
    t.after(() => rmSync(keyDir, { recursive: true, force: true }));
    const demo = await startDemo(t, keyDir);
    const g1 = gatewayPorts(demo.banner, 1);
    const g2 = gatewayPorts(demo.banner, 2);
    assert.equal(new Set([g1.tcp, g1.ws, g1.management, g2.tcp, g2.ws, g2.management]).size, 6);
    const dataDir = /data in (\S+) \(removed at stop\)/.exec(demo.banner)?.[1];
    assert.ok(dataDir && existsSync(dataDir), `no data dir in:\n${demo.banner}`);

    // Every process it started, from /proc (not only the ones it names).
    const children = descendants(demo.proc.pid!);
    const named = namedProcesses(demo.banner);
    assert.deepEqual(
      named.map(([name]) => name),
      ['redis-server', 'etcd', 'player-1', 'player-2', 'room-1', 'gateway-1', 'gateway-2'],
    );
    for (const [name, pid] of named) assert.ok(children.has(Number(pid)), `${name} ${pid} is no child of the demo`);
    const cmd = (name: string): string => children.get(Number(named.find(([n]) => n === name)![1]))!;
    assert.match(cmd('redis-server'), /^redis-server /);
    assert.match(cmd('etcd'), /^etcd /);
    assert.match(cmd('gateway-1'), / gateway --config /);
    assert.match(cmd('room-1'), /demo-cluster-backend\.js .* roma\.room\.service room-1 /);

    // The same uid through both gateways, with the client SDK.
    const keys = loadClientKeys(keyDir);
    const tokenKey = await readTokenKeyFile(join(keyDir, 'token.key'));
    const token = (): Promise<string> =>
      sealToken(nodeCrypto, tokenKey, { accountId: 1001n, serverId: 1n, color: '', timeout: BigInt(Math.floor(Date.now() / 1000) + 600), status: AuthToken_Status.DEV });
    const first = await JanusClient.connect({ transport: 'tcp', host: '127.0.0.1', port: g1.tcp, token: await token(), ...keys });
    t.after(() => first.close());
    const firstClosed = new Promise<CloseReason>((resolve) => first.once('close', resolve));
    assert.deepEqual(JSON.parse(dec.decode((await first.request(3, 2)).data)), { count: 1 });
    const second = await JanusClient.connect({ transport: 'ws', host: '127.0.0.1', port: g2.ws, token: await token(), ...keys });
    t.after(() => second.close());
    const reason = await firstClosed;
    assert.deepEqual(reason.kind === 'logout' ? [reason.kind, reason.code] : [reason.kind], ['logout', Code.ConflictingLogin]);
    // The route to the player instance is in Redis: gateway-2 reaches the same one.
    assert.deepEqual(JSON.parse(dec.decode((await second.request(3, 2)).data)), { count: 2 });
    // The printed admin token turns on the push API: gateway-1's reaches the uid on gateway-2.
    const adminToken = /admin token \(for \/stats\/\* and the push API \/v1\/push\/\*\): (\S+)/.exec(demo.banner)?.[1];
    assert.ok(adminToken, `no admin token in:\n${demo.banner}`);
    const pushed = new Promise<string>((resolve) => second.once('push', (p) => resolve(dec.decode(p.data))));
    const r = await fetch(`http://127.0.0.1:${g1.management}/v1/push/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ uid: '1001', bodies: [{ mod: 3, seq: 4, data: Buffer.from('hello').toString('base64') }] }),
    });
    assert.deepEqual([r.status, await r.json()], [200, { pushed: true }]);
    assert.equal(await pushed, 'hello');
    await second.close();

    const exited = once(demo.proc, 'exit');
    // Twice, as Ctrl-C under `npm run demo:cluster` arrives (the terminal's and npm's forward).
    demo.proc.kill('SIGINT');
    demo.proc.kill('SIGINT');
    assert.deepEqual(await exited, [0, null]);
    assert.match(demo.stdout(), /stopping\.\.\.\nstopped\n$/);
    const left = [...children].filter(([pid]) => alive(pid));
    assert.deepEqual(left, [], 'processes left running');
    assert.equal(existsSync(dataDir), false, 'data dir removed');
    assert.doesNotMatch(demo.stderr(), /"level":(50|60)/, 'no error logged');
  });

  it('takes JANUS_ADMIN_TOKEN as its admin token when set, else a random one of at least 16 characters', () => {
    assert.equal(clusterAdminToken({ JANUS_ADMIN_TOKEN: 'mine-0123456789abcdef' }), 'mine-0123456789abcdef');
    const made = [clusterAdminToken({}), clusterAdminToken({ JANUS_ADMIN_TOKEN: '' })];
    assert.ok(made.every((tok) => /^[A-Za-z0-9_-]{16,}$/.test(tok)), made.join(' '));
    assert.notEqual(made[0], made[1]);
  });

  it('refuses with one line naming the missing binary and its apt package', async (t) => {
    const bin = mkdtempSync(join(tmpdir(), 'janus-cluster-path-'));
    const keyDir = join(bin, 'keys');
    t.after(() => rmSync(bin, { recursive: true, force: true }));
    const run = (path: string) => runJanusWith({ env: { ...process.env, PATH: path } }, ['demo', '--cluster', '--port-base', '0', '--keys', keyDir]);
    assert.deepEqual(await run(bin), {
      code: 2,
      stdout: '',
      stderr: 'janus: janus demo --cluster needs redis-server, which is not installed (not on PATH): apt-get install redis-server\n',
    });
    const redis = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((f) => existsSync(f));
    assert.ok(redis, 'redis-server is installed (scripts/install-test-tools.sh)');
    symlinkSync(redis, join(bin, 'redis-server'));
    assert.deepEqual(await run(bin), {
      code: 2,
      stdout: '',
      stderr: 'janus: janus demo --cluster needs etcd, which is not installed (not on PATH): apt-get install etcd-server\n',
    });
    assert.equal(existsSync(keyDir), false, 'nothing written');
    // And a bad port base is refused the same way.
    const bad = await runJanus(bin, 'demo', '--cluster', '--port-base', '80');
    assert.deepEqual([bad.code, bad.stderr], [2, `janus: --port-base must be 0 or an integer in 1024..65502, got "80"\n`]);
  });
});
