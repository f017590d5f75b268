/**
 * What a new user trips over at start and at the first connection (issue "Operate it",
 * item 8): each message names the key, the variable or what the bytes look like, in one
 * line without a stack.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { JanusClient } from '@janus/client';
import { decodeMessage, ErrorCode, isJanusError, SCServerLogout_Code as Code, SCServerUnexpectedErrSchema } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { loadConfigFile, parseConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { loadKeyRing } from '../src/keys.js';
import { runJanus } from './support/janus-cli.js';
import { memoryLogger } from './support/management.js';
import { RawClient } from './support/raw-client.js';
import { loggedIn } from './support/session.js';
import { makeKeys, startStack } from './support/stack.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

function holdPort(): Promise<{ server: Server; port: number }> {
  return new Promise((res) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => res({ server, port: (server.address() as { port: number }).port }));
  });
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'janus-start-'));
}

/** A `janus demo` config in a temp dir: free client and management ports, the demo backend at `backendPort`. */
function demoConfig(backendPort: number): { dir: string; file: string } {
  const dir = tmp();
  const file = join(dir, 'demo.yaml');
  writeFileSync(
    file,
    [
      'listen: { tcp: { host: 127.0.0.1, port: 0 }, ws: { host: 127.0.0.1, port: 0 }, grpc: { host: 127.0.0.1, port: 0 } }',
      'management: { port: 0 }',
      `keys: { dir: ${JSON.stringify(join(REPO, '.janus', 'keys'))} }`,
      `discovery: { static: { roma.player.service: [{ id: a, endpoints: ["grpc://127.0.0.1:${backendPort}"] }] } }`,
    ].join('\n'),
  );
  return { dir, file };
}

describe('config errors name the variable or the key', () => {
  it('JANUS_LOG_LEVEL=loud names the variable', () => {
    const dir = tmp();
    try {
      const file = join(dir, 'g.yaml');
      writeFileSync(file, 'log: { level: info }\n');
      assert.throws(
        () => loadConfigFile(file, { JANUS_LOG_LEVEL: 'loud' }),
        (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && /^environment JANUS_LOG_LEVEL \(config log\.level\): /.test(e.message),
      );
      writeFileSync(file, 'log: { level: loud }\n');
      assert.throws(() => loadConfigFile(file, {}), (e: unknown) => isJanusError(e) && /^config log\.level: /.test(e.message));
      assert.throws(
        () => loadConfigFile(file, { JANUS_ADMIN_TOKEN: 'short' }),
        (e: unknown) => isJanusError(e) && e.message.startsWith('config log.level'),
        'the file is checked first key by key',
      );
      writeFileSync(file, '{}\n');
      assert.throws(() => loadConfigFile(file, { JANUS_ADMIN_TOKEN: 'short' }), (e: unknown) => isJanusError(e) && /^environment JANUS_ADMIN_TOKEN \(config management\.adminToken\): /.test(e.message));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('an empty keys.dir says it is empty; a key directory without keys is named', () => {
    assert.throws(() => parseConfig({ keys: { dir: '' } }), (e: unknown) => isJanusError(e) && /^config keys\.dir: is empty/.test(e.message));
    const dir = tmp();
    try {
      const cfg = parseConfig({ keys: { dir } });
      assert.throws(
        () => loadKeyRing(cfg, {}),
        (e: unknown) => isJanusError(e, ErrorCode.KeyInvalid) && e.message === `key directory ${dir} holds no token.key (write a key set there with: janus keygen --out ${dir})`,
      );
      writeFileSync(join(dir, 'token.key'), `${Buffer.alloc(32, 7).toString('base64')}\n`);
      assert.throws(() => loadKeyRing(cfg, {}), (e: unknown) => isJanusError(e) && e.message.startsWith(`key directory ${dir} holds no server-vN.key.pem`));
      assert.throws(() => loadKeyRing(parseConfig({}), {}), (e: unknown) => isJanusError(e) && e.message.startsWith('no token key: set keys.dir'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('static discovery checked at start', () => {
  it('warns naming a service whose discovery name has no instance (a typo)', async (t) => {
    const log = memoryLogger('info');
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true }));
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
    t.after(() => backend.close());
    const cfg = parseConfig({
      listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 } },
      limits: { maxConnections: 1000 },
      management: { port: 0 },
      keys: { dir: keys.dir },
      discovery: { static: { 'roma.player.service': [{ id: 'a', endpoints: [`grpc://127.0.0.1:${backend.port}`] }], 'roma.room.servce': [{ id: 'a', endpoints: [`grpc://127.0.0.1:${backend.port}`] }] } },
    });
    const gw = await createGateway(cfg, { logger: log.logger });
    t.after(() => gw.close());
    const w = await log.line((l) => l.level === 40);
    assert.deepEqual([w.service, w.discoveryName], ['room', 'roma.room.service']);
    assert.match(String(w.msg), /discovery\.static has no "roma\.room\.service" \(discovery\.static lists "roma\.player\.service", "roma\.room\.servce"\)/);
  });

  it('refuses to start with no instance of the player service, naming its discovery name', async (t) => {
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true }));
    const cfg = parseConfig({ listen: { tcp: { port: 0 }, ws: { port: 0 }, grpc: { port: 0 } }, management: { port: 0 }, keys: { dir: keys.dir }, discovery: { static: { 'roma.player.servic': [{ id: 'a', endpoints: ['grpc://127.0.0.1:1'] }] } } });
    await assert.rejects(createGateway(cfg, { logger: memoryLogger('silent').logger }), (e: unknown) => {
      assert.ok(isJanusError(e, ErrorCode.ConfigInvalid));
      assert.match(e.message, /^config discovery\.static\.roma\.player\.service: no instance of the player service .*discovery\.static lists "roma\.player\.servic"/);
      return true;
    });
  });
});

describe('a busy port', () => {
  for (const which of ['tcp', 'ws', 'grpc', 'management'] as const) {
    it(`${which}: one error naming the config key, nothing logged`, async (t) => {
      const held = await holdPort();
      t.after(() => held.server.close());
      const log = memoryLogger('trace');
      const keys = await makeKeys();
      t.after(() => rmSync(keys.dir, { recursive: true }));
      const listen = { tcp: { host: '127.0.0.1', port: which === 'tcp' ? held.port : 0 }, ws: { host: '127.0.0.1', port: which === 'ws' ? held.port : 0 }, grpc: { host: '127.0.0.1', port: which === 'grpc' ? held.port : 0 } };
      const cfg = parseConfig({
        listen,
        limits: { maxConnections: 1000 },
        management: { host: '127.0.0.1', port: which === 'management' ? held.port : 0 },
        keys: { dir: keys.dir },
        discovery: { static: { 'roma.player.service': [{ id: 'a', endpoints: ['grpc://127.0.0.1:1'] }], 'roma.room.service': [{ id: 'a', endpoints: ['grpc://127.0.0.1:1'] }] } },
      });
      const key = which === 'management' ? 'management' : `listen.${which}`;
      await assert.rejects(createGateway(cfg, { logger: log.logger }), (e: unknown) => {
        assert.ok(isJanusError(e, ErrorCode.ConfigInvalid));
        assert.equal(e.message, `cannot listen on 127.0.0.1:${held.port} (config ${key}.host / ${key}.port): the address is in use (another process listens there) [EADDRINUSE]`);
        return true;
      });
      assert.equal(log.lines.filter((l) => (l.level as number) >= 40).length, 0, log.text());
    });
  }

  it('janus gateway: one line on stderr, no stack, exit 2', async (t) => {
    const held = await holdPort();
    t.after(() => held.server.close());
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true }));
    const file = join(keys.dir, 'g.yaml');
    writeFileSync(
      file,
      [
        `listen: { tcp: { host: 127.0.0.1, port: ${held.port} }, ws: { host: 127.0.0.1, port: 0 }, grpc: { host: 127.0.0.1, port: 0 } }`,
        'management: { port: 0 }',
        'limits: { maxConnections: 1000 }',
        'keys: { dir: . }',
        'discovery: { static: { roma.player.service: [{ id: a, endpoints: ["grpc://127.0.0.1:1"] }], roma.room.service: [{ id: a, endpoints: ["grpc://127.0.0.1:1"] }] } }',
      ].join('\n'),
    );
    const r = await runJanus(keys.dir, 'gateway', '--config', file);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `janus: cannot listen on 127.0.0.1:${held.port} (config listen.tcp.host / listen.tcp.port): the address is in use (another process listens there) [EADDRINUSE]\n`);
  });

  it('janus demo with the backend port busy: one line naming the discovery endpoint, no grpc-js line', async (t) => {
    const held = await holdPort();
    t.after(() => held.server.close());
    const { dir, file } = demoConfig(held.port);
    t.after(() => rmSync(dir, { recursive: true }));
    const r = await runJanus(dir, 'demo', '--config', file);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `janus: cannot listen on 127.0.0.1:${held.port} (config discovery.static.roma.player.service.0.endpoints.0): the address is in use (another process listens there) [EADDRINUSE]\n`,
    );
    assert.doesNotMatch(r.stdout, /No address added/);
  });
});

describe('a client pointed at the wrong port', () => {
  const connect = (port: number, keys: Awaited<ReturnType<typeof makeKeys>>) =>
    JanusClient.connect({ transport: 'tcp', host: '127.0.0.1', port, token: 'x', clientKeyPem: keys.clientKeyPem, serverKeys: { 1: keys.serverPubPem }, connectTimeoutMs: 3000 });

  it('the SDK says the gateway WebSocket (HTTP) port answered HTTP', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    await assert.rejects(connect(s.gw.wsPort, s.keys), (e: unknown) => {
      assert.ok(isJanusError(e, ErrorCode.UnexpectedMessage), String(e));
      assert.equal(e.message, `the server at 127.0.0.1:${s.gw.wsPort} sent an HTTP/1.x response, not a Janus frame: is this the gateway's TCP client port (listen.tcp.port, default 17001)?`);
      return true;
    });
  });

  it('the SDK says a gRPC port answered HTTP/2', async (t) => {
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true }));
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
    t.after(() => backend.close());
    await assert.rejects(connect(backend.port, keys), (e: unknown) => {
      assert.ok(isJanusError(e, ErrorCode.UnexpectedMessage), String(e));
      assert.match(e.message, /sent an HTTP\/2 SETTINGS frame \(a gRPC or HTTP\/2 server\), not a Janus frame/);
      return true;
    });
  });

  it('the SDK over WebSocket says the port is not a Janus WebSocket endpoint (TCP port, gRPC port, management port)', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    for (const port of [s.gw.tcpPort, s.backendPort, s.gw.management!.port]) {
      const ws = JanusClient.connect({ transport: 'ws', host: '127.0.0.1', port, token: 'x', clientKeyPem: s.keys.clientKeyPem, serverKeys: { 1: s.keys.serverPubPem }, connectTimeoutMs: 3000 });
      await assert.rejects(ws, (e: unknown) => {
        assert.ok(isJanusError(e, ErrorCode.ConnectionClosed), String(e));
        assert.ok(e.message.endsWith(`(ws://127.0.0.1:${port}/ws is not a Janus WebSocket endpoint: is this the gateway's listen.ws.port, default 17002, and path listen.ws.path, default /ws?)`), e.message);
        return true;
      });
    }
  });

  it('the gateway log says a client sent the HTTP/2 (gRPC) preface', async (t) => {
    const log = memoryLogger('info');
    const s = await startStack({ logger: log.logger });
    t.after(() => s.stop());
    const { connect: h2connect } = await import('node:http2');
    const session = h2connect(`http://127.0.0.1:${s.gw.tcpPort}`);
    session.on('error', () => {});
    t.after(() => session.destroy());
    const line = await log.line((l) => l.msg === 'closed' && l.reason === 'bad_input');
    assert.match(String(line.detail), /the client sent the HTTP\/2 \(gRPC\) connection preface, not a Janus frame/);
  });
});

describe('a backend that serves another gRPC path', () => {
  it('player: ServerLogout Waiting, and the close line names UNIMPLEMENTED and services.player.path', async (t) => {
    const log = memoryLogger('info');
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0, playerPath: '/wrong.Service/Tunnel' });
    t.after(() => backend.close());
    const at = [{ id: 'w', endpoints: [`grpc://127.0.0.1:${backend.port}`] }];
    const s = await startStack({ noBackend: true, logger: log.logger, config: { discovery: { static: { 'roma.player.service': at, 'roma.room.service': at } } } });
    t.after(() => s.stop());
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    t.after(() => c.close());
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(await s.token(81));
    assert.equal(await c.expectLogout(), Code.Waiting);
    const line = await log.line((l) => l.msg === 'closed');
    assert.equal(line.logout, 'Waiting');
    assert.ok(line.reason === 'player_tunnel_ended' || line.reason === 'no_player_backend', String(line.reason));
    assert.match(String(line.detail), /gRPC status 12 UNIMPLEMENTED \(the backend does not serve services\.player\.path\): .*\/player\.intra\.v1\.TunnelService\/Tunnel/);
  });

  it('room: the client gets ServerUnexpectedErr (index 0) with the backend\'s UNIMPLEMENTED text', async (t) => {
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0, roomPath: '/wrong.Room/Tunnel' });
    t.after(() => backend.close());
    const at = [{ id: 'w', endpoints: [`grpc://127.0.0.1:${backend.port}`] }];
    const s = await startStack({ noBackend: true, config: { discovery: { static: { 'roma.player.service': at, 'roma.room.service': at } } } });
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 82);
    t.after(() => c.close());
    c.send({ mod: 4, seq: 1, obj: 5n, data: new TextEncoder().encode('{}') });
    const p = await c.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index], [1, 3, 0]);
    const e = decodeMessage(SCServerUnexpectedErrSchema, p!.data);
    assert.deepEqual([e.mod, e.seq], [4, 1]);
    assert.match(e.msg, /does not implement the method \/room\.intra\.v1\.TunnelService\/Tunnel/);
  });
});

describe('npm start', () => {
  /**
   * Starts `npm start` on a demo config in its own process group, checks the printed
   * addresses, then stops it with `stop(npm)`; asserts a graceful stop (exit 0, "stopped").
   */
  async function startAndStop(t: TestContext, stop: (npm: ChildProcess) => void): Promise<void> {
    // Backend port 0: the demo backend takes a free port (the stack only has to start and stop).
    const { dir, file } = demoConfig(0);
    t.after(() => rmSync(dir, { recursive: true }));
    const npm = spawn('npm', ['start', '--silent', '--', '--config', file], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, JANUS_LOG_LEVEL: 'warn' },
      detached: true,
    });
    t.after(() => {
      if (npm.exitCode === null) process.kill(-npm.pid!, 'SIGKILL');
    });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    // 'close': npm and every process that shares its output (the stack) are gone.
    const exited = once(npm, 'close');
    await new Promise<void>((res, rej) => {
      npm.stdout!.on('data', () => out.includes('Ctrl-C stops the stack') && res());
      void exited.then(() => rej(new Error(`npm start exited early: ${out}`)));
    });
    assert.match(out, /Management: http:\/\/127\.0\.0\.1:\d+ /);
    const dashboard = /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/) /.exec(out);
    assert.ok(dashboard, out);
    // The printed address serves the dashboard page.
    const page = await fetch(dashboard[1]!);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Janus gateway<\/title>/);
    stop(npm);
    const [code, signal] = await exited;
    assert.match(out, /stopping\.\.\.\nstopped\n/);
    assert.deepEqual([code, signal], [0, null], out);
  }

  it('stops the stack on SIGINT sent to the npm process (a process manager)', { timeout: 60_000 }, async (t) => {
    await startAndStop(t, (npm) => npm.kill('SIGINT'));
  });

  it('stops the stack gracefully on Ctrl-C in a terminal: SIGINT to the whole process group, which npm forwards again', { timeout: 60_000 }, async (t) => {
    await startAndStop(t, (npm) => process.kill(-npm.pid!, 'SIGINT'));
  });
});

