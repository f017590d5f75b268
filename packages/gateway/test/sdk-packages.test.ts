/**
 * The packaged SDKs (issue 10 item 6) and the gateway's optional adapters: `npm pack`
 * tarballs of @janus/protocol, @janus/client, @janus/backend, @janus/discovery-etcd and
 * @janus/redis, installed into a scratch game project outside the workspace, type-check
 * (strict, their .d.ts files checked too) and run: a backend from that project registers in
 * a real etcd (registerService, which loads @janus/discovery-etcd) and pushes through a real
 * Redis (ClusterPusher on @janus/redis's client), and a client from it holds real sessions
 * (handshake, login, an echo and a push, over TCP and WebSocket) through a gateway installed
 * from its own tarball into a second scratch project, the way production installs it:
 * without the demo backend or the client SDK, and with the two adapters installed beside it
 * for routeTable.redis and discovery.etcd.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { etcdPerFile } from './support/etcd-server.js';
import { RedisServer } from './support/redis-server.js';

/** The repository root (this file is packages/gateway/dist/test/sdk-packages.test.js). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const SDKS = ['@janus/protocol', '@janus/client', '@janus/backend'] as const;
/** Optional packages, loaded only when configured: beside the gateway (both), beside the backend SDK (etcd: registerService). */
const ADAPTERS = ['@janus/discovery-etcd', '@janus/redis'] as const;
/** Published to a registry (decisions 0014, 0016); @janus/redis stays private like the gateway it serves, installed from its tarball. */
const PUBLISHED: readonly string[] = [...SDKS, '@janus/discovery-etcd'];
const PACKED = [...SDKS, ...ADAPTERS, '@janus/gateway'] as const;
/** The @types/node the workspace builds with (already in the npm cache). */
const TYPES_NODE = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8')).version as string;

interface PackEntry {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** The environment of child npm/node processes: no npm_* variables of the `npm test` running us. */
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

const children: ChildProcess[] = [];
let scratch = '';
let packs = new Map<string, PackEntry>();
const etcd = etcdPerFile();
let redis: RedisServer | null = null;

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Runs a command to its end; rejects (with its output) on a non-zero exit. */
async function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(cmd, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, out, err };
}

async function mustRun(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} in ${cwd} exited ${r.code}:\n${r.out}\n${r.err}`);
  return r.out;
}

/** Starts a long-running process and resolves with the first match of `pattern` in its stdout (and all its stdout so far, later). */
async function startUntil(cmd: string, args: string[], cwd: string, pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray; stdout(): string }> {
  const child = spawn(cmd, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const match = await new Promise<RegExpExecArray>((resolveMatch, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = pattern.exec(out);
      if (m) resolveMatch(m);
    });
    child.once('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited ${code} before ${pattern}:\n${out}\n${err}`)));
  });
  return { child, match, stdout: () => out };
}

/** SIGTERM and the exit code. */
async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

function tarball(name: string): string {
  return join(scratch, 'tarballs', packs.get(name)!.filename);
}

/** Every file an `exports` map points at (through its conditions). */
function exportTargets(exp: unknown): string[] {
  if (typeof exp === 'string') return [exp.replace(/^\.\//, '')];
  if (exp && typeof exp === 'object') return Object.values(exp).flatMap(exportTargets);
  return [];
}

/**
 * The packages `files` (paths in package `dir`) import from their built JavaScript: static
 * and dynamic imports of bare specifiers, as package names (node: builtins left out).
 */
function importedPackages(dir: string, files: Iterable<string>): Set<string> {
  const names = new Set<string>();
  const patterns = [/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const f of files) {
    if (!f.endsWith('.js')) continue;
    const js = readFileSync(join(dir, f), 'utf8');
    for (const re of patterns) {
      for (const [, spec] of js.matchAll(re)) {
        if (!spec || spec.startsWith('.') || spec.startsWith('node:')) continue;
        names.add(spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
      }
    }
  }
  return names;
}

/** The scratch game project: a backend and a client on the SDKs, in strict TypeScript. */
const GAME_BACKEND = `import { ClusterPusher, registerService, TunnelServer, type TunnelContext } from '@janus/backend';
import type { EtcdOptionsInput } from '@janus/discovery-etcd';
import { TUNNEL_PATHS, utf8 } from '@janus/protocol';
import { closeRedis, connectRedis, createRedisClient } from '@janus/redis';

const [etcdEndpoint, etcdPrefix, redisNode] = process.argv.slice(2) as [string, string, string];
const redis = createRedisClient({ nodes: [redisNode], cluster: false }, 'game-backend');
await connectRedis(redis, 3000);
const pusher = new ClusterPusher(redis);
const dec = new TextDecoder();
const server = new TunnelServer().addService(TUNNEL_PATHS.player, {
  async onMessage(ctx: TunnelContext, req) {
    if (req.seq === 2) {
      // Through the cluster: the gateway table in Redis, then that gateway's push channel.
      const gateway = await pusher.push(ctx.uid, [{ mod: 3, seq: 9, data: utf8(\`pushed to \${ctx.uid}\`) }]);
      return utf8(\`pushed via \${gateway}\`);
    }
    return utf8(\`echo to \${ctx.uid}: \${dec.decode(req.data)}\`);
  },
});
const port: number = await server.listen('127.0.0.1', 0);
const etcd: EtcdOptionsInput = { endpoints: [etcdEndpoint], prefix: etcdPrefix };
const reg = await registerService({ etcd, name: 'roma.player.service', id: 'game-1', endpoints: [\`grpc://127.0.0.1:\${port}\`] });
await reg.ready();
console.log(\`game backend on \${port}, registered as \${reg.key}\`);
process.once('SIGTERM', () => {
  setTimeout(() => server.destroy(), 2000).unref();
  void reg.close().then(() => {
    closeRedis(redis);
    return server.close();
  });
});
`;

const GAME_CLIENT = `import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JanusClient, isJanusError, type Packet } from '@janus/client';
import { parseTokenKey, sealToken, utf8 } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';

const [keys, tcpPort, wsPort] = process.argv.slice(2) as [string, string, string];
const tokenKey = parseTokenKey(readFileSync(join(keys, 'token.key'), 'utf8'));
const token = await sealToken(nodeCrypto, tokenKey, { accountId: 4242n, timeout: BigInt(Math.floor(Date.now() / 1000) + 600) });
for (const [transport, port] of [['tcp', Number(tcpPort)], ['ws', Number(wsPort)]] as const) {
  const client = await JanusClient.connect({
    transport,
    host: '127.0.0.1',
    port,
    token,
    clientKeyPem: readFileSync(join(keys, 'client-v1.key.pem'), 'utf8'),
    serverKeys: { 1: readFileSync(join(keys, 'server-v1.pub.pem'), 'utf8') },
  });
  const reply: Packet = await client.request(3, 1, utf8(\`hello over \${transport}\`));
  const pushed = new Promise<Packet>((resolve) => client.once('push', resolve));
  const via: Packet = await client.request(3, 2, utf8('push me'));
  const push = await pushed;
  const text = (p: Packet): string => new TextDecoder().decode(p.data);
  console.log(JSON.stringify({ transport, uid: String(client.session.uid), reply: text(reply), via: text(via), push: [push.mod, push.seq, text(push)] }));
  await client.close();
}
try {
  await JanusClient.connect({ transport: 'tcp', host: '127.0.0.1', port: 1, token, encrypted: false, connectTimeoutMs: 2000 });
} catch (err) {
  console.log(JSON.stringify({ refused: isJanusError(err) ? err.code : String(err) }));
}
`;

const GAME_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    // The SDKs' declaration files are checked too: a type they name and do not ship fails here.
    skipLibCheck: false,
    types: ['node'],
    outDir: 'dist',
    rootDir: 'src',
  },
  include: ['src'],
};

describe('packed SDKs, installed outside the workspace', () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'janus-sdk-pack-'));
    mkdirSync(join(scratch, 'tarballs'));
    const args = ['pack', ...PACKED.flatMap((n) => ['-w', n]), '--pack-destination', join(scratch, 'tarballs'), '--ignore-scripts', '--json'];
    const json = await mustRun('npm', args, ROOT);
    packs = new Map((JSON.parse(json) as PackEntry[]).map((p) => [p.name, p]));
  });

  it('packs each SDK and adapter with its built entry points, types, README and LICENSE, no tests, and every package it imports declared', () => {
    for (const name of [...SDKS, ...ADAPTERS]) {
      const p = packs.get(name);
      assert.ok(p, `npm pack made no tarball of ${name}`);
      const files = new Set(p.files.map((f) => f.path));
      const dir = join(ROOT, 'packages', name.slice('@janus/'.length));
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      assert.equal(pkg.private, PUBLISHED.includes(name) ? undefined : true, `${name} is ${PUBLISHED.includes(name) ? 'publishable' : 'private, installed from its tarball'}`);
      assert.equal(pkg.license, 'MIT');
      assert.match(pkg.version, /^\d+\.\d+\.\d+/);
      for (const f of ['package.json', 'README.md', 'LICENSE', pkg.main, pkg.types]) assert.ok(files.has(f.replace(/^\.\//, '')), `${name} tarball has ${f}`);
      const targets = exportTargets(pkg.exports);
      assert.ok(targets.some((t) => t.endsWith('.d.ts')), `${name} exports types`);
      for (const t of targets) assert.ok(files.has(t), `${name} tarball has exports target ${t}`);
      for (const f of files) {
        assert.doesNotMatch(f, /(^|\/)(test|bench|node_modules)\//, `${name} tarball holds no tests or benchmarks: ${f}`);
        assert.doesNotMatch(f, /tsbuildinfo$/, `${name}: ${f}`);
      }
      for (const [dep, range] of Object.entries({ ...pkg.dependencies, ...pkg.peerDependencies })) {
        if (dep.startsWith('@janus/')) assert.equal(range, JSON.parse(readFileSync(join(ROOT, 'packages', dep.slice(7), 'package.json'), 'utf8')).version, `${name} -> ${dep}`);
      }
      // What the built code imports is a dependency, or an optional peer it loads on use.
      const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
      const imported = importedPackages(dir, files);
      assert.ok(imported.size > 0, `${name}: found its imports`);
      for (const dep of imported) assert.ok(declared.has(dep), `${name} imports ${dep} without declaring it`);
      for (const dep of Object.keys(pkg.peerDependencies ?? {})) assert.equal(pkg.peerDependenciesMeta?.[dep]?.optional, true, `${name}: peer ${dep} is optional`);
    }
    const deps = (name: string): Record<string, string> => JSON.parse(readFileSync(join(ROOT, 'packages', name.slice(7), 'package.json'), 'utf8')).dependencies;
    assert.ok(deps('@janus/discovery-etcd').etcd3 && deps('@janus/redis').ioredis, 'the adapters bring their clients');
    // The gateway loads both adapters on use: optional peers, not dependencies.
    const gw = JSON.parse(readFileSync(join(ROOT, 'packages', 'gateway', 'package.json'), 'utf8'));
    for (const a of ADAPTERS) {
      assert.equal(gw.dependencies[a], undefined, `@janus/gateway does not depend on ${a}`);
      assert.deepEqual([gw.peerDependencies[a], gw.peerDependenciesMeta[a]], ['0.1.0', { optional: true }], `@janus/gateway: ${a} an optional peer`);
    }
    assert.ok(packs.get('@janus/protocol')!.files.some((f) => f.path.startsWith('proto/') && f.path.endsWith('.proto')), 'the .proto files ship with @janus/protocol');
  });

  it('runs a game backend and client built on the installed SDKs through a gateway installed from its tarball, on Redis and etcd with the adapters beside it', { timeout: 180_000 }, async () => {
    // The operator's side: the gateway alone, with its runtime dependencies.
    const ops = join(scratch, 'ops');
    mkdirSync(ops);
    writeFileSync(join(ops, 'package.json'), JSON.stringify({ name: 'ops', private: true }));
    const npmInstall = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
    await mustRun('npm', [...npmInstall, tarball('@janus/protocol'), tarball('@janus/gateway')], ops);
    const installed = readdirSync(join(ops, 'node_modules', '@janus')).sort();
    assert.deepEqual(installed, ['gateway', 'protocol'], 'a gateway install pulls in neither the demo backend, the client SDK nor the backend SDK');
    assert.ok(!existsSync(join(ops, 'node_modules', '@grpc', 'grpc-js')), 'nor grpc-js: the tunnel client is on node:http2');
    const janus = join(ops, 'node_modules', '@janus', 'gateway', 'bin', 'janus.js');
    for (const [cmd, pkg] of [['demo', '@janus/demo-backend'], ['client', '@janus/client']] as const) {
      const r = await run(process.execPath, [janus, cmd, ...(cmd === 'client' ? ['--uid', '1'] : [])], ops);
      assert.equal(r.code, 2, `janus ${cmd} without ${pkg}: ${r.out}${r.err}`);
      assert.match(r.err, new RegExp(`^janus: janus ${cmd} needs ${pkg}, which this install of the gateway does not include`));
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
    }
    await mustRun(process.execPath, [janus, 'keygen', '--out', 'keys'], ops);
    // etcd discovery and the Redis adapters are optional packages (decisions 0016, 0017): a
    // config asking for one says what to install.
    writeFileSync(join(ops, 'etcd.yaml'), 'keys: { dir: keys }\ndiscovery: { etcd: { endpoints: ["http://127.0.0.1:1"] } }\n');
    writeFileSync(
      join(ops, 'redis.yaml'),
      'keys: { dir: keys }\nrouteTable: { redis: { nodes: ["127.0.0.1:1"] } }\ndiscovery: { static: { roma.player.service: [{ id: p, endpoints: ["grpc://127.0.0.1:1"] }] } }\n',
    );
    assert.ok(!existsSync(join(ops, 'node_modules', 'etcd3')), 'no etcd client in a gateway install');
    assert.ok(!existsSync(join(ops, 'node_modules', 'ioredis')), 'no Redis client in a gateway install');
    for (const [file, key, pkg] of [['etcd.yaml', 'discovery.etcd', '@janus/discovery-etcd'], ['redis.yaml', 'routeTable.redis', '@janus/redis']] as const) {
      const r = await run(process.execPath, [janus, 'gateway', '--config', file], ops);
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.err, new RegExp(`^janus: ${key.replace('.', '\\.')} needs ${pkg}, which this install of the gateway does not include`));
    }
    // The same refusal through createGateway leaves nothing running: the process ends by
    // itself (the gRPC PushService on port 0 is bound before the etcd adapter is loaded; a
    // watchdog that holds nothing open reports it if it were left listening).
    const refused = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        [
          "import { createGateway, parseConfig } from '@janus/gateway';",
          "setTimeout(() => { console.log('still running'); process.exit(1); }, 10_000).unref();",
          "const at = { host: '127.0.0.1', port: 0 };",
          "const cfg = parseConfig({ keys: { dir: 'keys' }, listen: { tcp: at, ws: at, grpc: at }, discovery: { etcd: { endpoints: ['http://127.0.0.1:1'] } }, log: { level: 'silent' } });",
          "console.log(await createGateway(cfg).then(() => 'started', (e) => e.code));",
        ].join('\n'),
      ],
      ops,
    );
    assert.deepEqual([refused.code, refused.out, refused.err], [0, 'JANUS_ERR_CONFIG_INVALID\n', '']);

    // Installed beside the gateway, both load, with their clients.
    await mustRun('npm', [...npmInstall, ...ADAPTERS.map(tarball)], ops);
    assert.deepEqual(readdirSync(join(ops, 'node_modules', '@janus')).sort(), ['discovery-etcd', 'gateway', 'protocol', 'redis']);
    for (const dep of ['etcd3', 'cockatiel', 'ioredis']) assert.ok(existsSync(join(ops, 'node_modules', dep, 'package.json')), `${dep} installed with the adapters`);
    const loaded = await mustRun(
      process.execPath,
      ['--input-type=module', '-e', "const e = await import('@janus/discovery-etcd'); const r = await import('@janus/redis'); console.log(JSON.stringify([typeof e.EtcdRegistry, typeof r.openRedisAdapters]));"],
      ops,
    );
    assert.deepEqual(JSON.parse(loaded), ['function', 'function']);

    // The game's side: the SDKs and the adapters, a backend and a client in strict TypeScript.
    const game = join(scratch, 'game');
    mkdirSync(join(game, 'src'), { recursive: true });
    writeFileSync(join(game, 'package.json'), JSON.stringify({ name: 'game', private: true, type: 'module' }));
    writeFileSync(join(game, 'tsconfig.json'), JSON.stringify(GAME_TSCONFIG));
    writeFileSync(join(game, 'src', 'backend.ts'), GAME_BACKEND);
    writeFileSync(join(game, 'src', 'client.ts'), GAME_CLIENT);
    await mustRun('npm', [...npmInstall, ...SDKS.map(tarball), ...ADAPTERS.map(tarball)], game);
    await mustRun('npm', [...npmInstall, '--save-dev', `@types/node@${TYPES_NODE}`], game);
    await mustRun(process.execPath, [TSC, '-p', 'tsconfig.json'], game);

    // A cluster of one: real Redis and etcd, the backend registered in etcd, the gateway on both.
    redis = await RedisServer.start();
    const prefix = etcd.prefix('sdk');
    const backend = await startUntil(process.execPath, ['dist/backend.js', etcd.server.endpoint, prefix, redis.address], game, /game backend on (\d+), registered as (\S+)/);
    assert.equal(backend.match[2], `${prefix}/roma.player.service/game-1`);
    writeFileSync(
      join(ops, 'gateway.yaml'),
      [
        'listen: { tcp: { host: 127.0.0.1, port: 0 }, ws: { host: 127.0.0.1, port: 0 }, grpc: { host: 127.0.0.1, port: 0 } }',
        'keys: { dir: keys }',
        `routeTable: { redis: { nodes: ["${redis.address}"] } }`,
        `discovery: { etcd: { endpoints: ["${etcd.server.endpoint}"], prefix: "${prefix}" } }`,
        'timeouts: { shutdownMs: 2000 }',
        'management: { port: 0 }',
      ].join('\n'),
    );
    const gw = await startUntil(process.execPath, [janus, 'gateway', '--config', 'gateway.yaml'], ops, /"tcp":"127\.0\.0\.1:(\d+)","ws":"127\.0\.0\.1:(\d+)\/ws".*"grpc":"(127\.0\.0\.1:\d+)"/);
    const out = await mustRun(process.execPath, ['dist/client.js', join(ops, 'keys'), gw.match[1]!, gw.match[2]!], game);
    const gateway = gw.match[3]!;
    assert.deepEqual(
      out.trim().split('\n').map((l) => JSON.parse(l)),
      [
        { transport: 'tcp', uid: '4242', reply: 'echo to 4242: hello over tcp', via: `pushed via ${gateway}`, push: [3, 9, 'pushed to 4242'] },
        { transport: 'ws', uid: '4242', reply: 'echo to 4242: hello over ws', via: `pushed via ${gateway}`, push: [3, 9, 'pushed to 4242'] },
        { refused: 'JANUS_ERR_CONNECTION_CLOSED' },
      ],
    );
    const running = gw.stdout().length;
    assert.equal(await stop(gw.child), 0, 'the gateway stops gracefully');
    const stopping = gw.stdout().slice(running).trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(stopping.some((l) => l.msg === 'gateway stopped'), gw.stdout().slice(running));
    assert.deepEqual(stopping.filter((l) => l.level >= 40), [], 'a quiet stop on Redis and etcd');
    assert.equal(await stop(backend.child), 0, 'the backend stops gracefully');
  });
});
