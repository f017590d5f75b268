/**
 * The packaged SDKs (issue 10 item 6): `npm pack` tarballs of @janus/protocol,
 * @janus/client and @janus/backend, installed into a scratch game project outside the
 * workspace, type-check (strict, their .d.ts files checked too) and run: a backend and a
 * client from that project hold real sessions (handshake, login, an echo, over TCP and
 * WebSocket) through a gateway installed from its own tarball into a second scratch
 * project, the way production installs it: without the demo backend or the client SDK.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

/** The repository root (this file is packages/gateway/dist/test/sdk-packages.test.js). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const SDKS = ['@janus/protocol', '@janus/client', '@janus/backend'] as const;
const PACKED = [...SDKS, '@janus/gateway'] as const;
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

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
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

/** Starts a long-running process and resolves with the first match of `pattern` in its stdout. */
async function startUntil(cmd: string, args: string[], cwd: string, pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
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
  return { child, match };
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

/** The scratch game project: a backend and a client on the SDKs, in strict TypeScript. */
const GAME_BACKEND = `import { TunnelServer, type TunnelContext } from '@janus/backend';
import { TUNNEL_PATHS, utf8 } from '@janus/protocol';

const dec = new TextDecoder();
const server = new TunnelServer().addService(TUNNEL_PATHS.player, {
  onMessage(ctx: TunnelContext, req) {
    return utf8(\`echo to \${ctx.uid}: \${dec.decode(req.data)}\`);
  },
});
const port: number = await server.listen('127.0.0.1', 0);
console.log(\`game backend on \${port}\`);
process.once('SIGTERM', () => {
  setTimeout(() => server.destroy(), 2000).unref();
  void server.close();
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
  console.log(JSON.stringify({ transport, uid: String(client.session.uid), reply: new TextDecoder().decode(reply.data) }));
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

  it('packs each SDK with its built entry points, types, README and LICENSE, and no tests', () => {
    for (const name of SDKS) {
      const p = packs.get(name);
      assert.ok(p, `npm pack made no tarball of ${name}`);
      const files = new Set(p.files.map((f) => f.path));
      const dir = join(ROOT, 'packages', name.slice('@janus/'.length));
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      assert.equal(pkg.private, undefined, `${name} is publishable`);
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
      for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
        if (dep.startsWith('@janus/')) assert.equal(range, JSON.parse(readFileSync(join(ROOT, 'packages', dep.slice(7), 'package.json'), 'utf8')).version, `${name} -> ${dep}`);
      }
    }
    assert.ok(packs.get('@janus/protocol')!.files.some((f) => f.path.startsWith('proto/') && f.path.endsWith('.proto')), 'the .proto files ship with @janus/protocol');
  });

  it('runs a game backend and client built on the installed SDKs through a gateway installed from its tarball', { timeout: 180_000 }, async () => {
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
    // etcd discovery is an optional package too (decision 0016): a config asking for it says what to install.
    writeFileSync(join(ops, 'etcd.yaml'), 'keys: { dir: keys }\ndiscovery: { etcd: { endpoints: ["http://127.0.0.1:1"] } }\n');
    assert.ok(!existsSync(join(ops, 'node_modules', 'etcd3')), 'no etcd client in a gateway install');
    const withEtcd = await run(process.execPath, [janus, 'gateway', '--config', 'etcd.yaml'], ops);
    assert.equal(withEtcd.code, 2, withEtcd.out + withEtcd.err);
    assert.match(withEtcd.err, /^janus: discovery\.etcd needs @janus\/discovery-etcd, which this install of the gateway does not include/);

    // The game's side: the three SDKs, a backend and a client in strict TypeScript.
    const game = join(scratch, 'game');
    mkdirSync(join(game, 'src'), { recursive: true });
    writeFileSync(join(game, 'package.json'), JSON.stringify({ name: 'game', private: true, type: 'module' }));
    writeFileSync(join(game, 'tsconfig.json'), JSON.stringify(GAME_TSCONFIG));
    writeFileSync(join(game, 'src', 'backend.ts'), GAME_BACKEND);
    writeFileSync(join(game, 'src', 'client.ts'), GAME_CLIENT);
    await mustRun('npm', [...npmInstall, ...SDKS.map(tarball)], game);
    await mustRun('npm', [...npmInstall, '--save-dev', `@types/node@${TYPES_NODE}`], game);
    await mustRun(process.execPath, [TSC, '-p', 'tsconfig.json'], game);

    const backend = await startUntil(process.execPath, ['dist/backend.js'], game, /game backend on (\d+)/);
    writeFileSync(
      join(ops, 'gateway.yaml'),
      [
        'listen: { tcp: { host: 127.0.0.1, port: 0 }, ws: { host: 127.0.0.1, port: 0 }, grpc: { host: 127.0.0.1, port: 0 } }',
        'keys: { dir: keys }',
        'discovery:',
        '  static:',
        `    roma.player.service: [{ id: game-1, endpoints: ["grpc://127.0.0.1:${backend.match[1]}"] }]`,
        'timeouts: { shutdownMs: 2000 }',
        'management: { port: 0 }',
      ].join('\n'),
    );
    const gw = await startUntil(process.execPath, [janus, 'gateway', '--config', 'gateway.yaml'], ops, /"tcp":"127\.0\.0\.1:(\d+)","ws":"127\.0\.0\.1:(\d+)\/ws"/);
    const out = await mustRun(process.execPath, ['dist/client.js', join(ops, 'keys'), gw.match[1]!, gw.match[2]!], game);
    assert.deepEqual(
      out.trim().split('\n').map((l) => JSON.parse(l)),
      [
        { transport: 'tcp', uid: '4242', reply: 'echo to 4242: hello over tcp' },
        { transport: 'ws', uid: '4242', reply: 'echo to 4242: hello over ws' },
        { refused: 'JANUS_ERR_CONNECTION_CLOSED' },
      ],
    );
    assert.equal(await stop(gw.child), 0, 'the gateway stops gracefully');
    assert.equal(await stop(backend.child), 0, 'the backend stops gracefully');
  });
});
