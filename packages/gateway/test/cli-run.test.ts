/**
 * The running commands: `janus gateway --config FILE` (start, serve, SIGTERM -> graceful
 * exit) and `janus client --uid N` scripted through stdin.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SCServerLogout_Code as Code } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { keyFileNames } from '../src/index.js';
import { RawClient } from './support/raw-client.js';
import { makeKeys, startStack, type Stack } from './support/stack.js';
import { loggedIn, text } from './support/session.js';
import { JANUS } from './support/janus-cli.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function run(args: string[], input?: string): ChildProcess & { out: Promise<string> } {
  const child = spawn(process.execPath, [JANUS, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  if (input !== undefined) child.stdin!.end(input);
  return Object.assign(child, { out: once(child, 'exit').then(() => out) });
}

describe('janus gateway --config', () => {
  it('starts from a YAML file, serves, and shuts down gracefully on SIGTERM', async (t) => {
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true, force: true }));
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
    t.after(() => backend.close());
    const file = join(keys.dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'listen: { tcp: { host: 127.0.0.1, port: 0 }, ws: { host: 127.0.0.1, port: 0 }, grpc: { host: 127.0.0.1, port: 0 } }',
        'keys: { dir: . }',
        'discovery:',
        '  static:',
        `    roma.player.service: [{ id: b1, endpoints: ["grpc://127.0.0.1:${backend.port}"] }]`,
        'timeouts: { shutdownMs: 3000 }',
        'management: { port: 0 }',
      ].join('\n'),
    );
    const gw = run(['gateway', '--config', file]);
    let log = '';
    const port = await new Promise<number>((resolve, reject) => {
      gw.stdout!.on('data', (d) => {
        log += d;
        const m = /"tcp":"127\.0\.0\.1:(\d+)"/.exec(log);
        if (m) resolve(Number(m[1]));
      });
      gw.once('exit', () => reject(new Error(`gateway exited: ${log}`)));
    });
    const c = await RawClient.connect('tcp', port);
    await c.handshake(keys.clientKey, keys.pins);
    const { sealToken } = await import('@janus/protocol');
    const { nodeCrypto } = await import('@janus/protocol/node');
    c.sendAuth(await sealToken(nodeCrypto, keys.tokenKey, { accountId: 7n, timeout: BigInt(Math.floor(Date.now() / 1000) + 60) }));
    assert.equal((await c.nextPacket())?.seq, 5);
    const req = c.send({ mod: 3, seq: 1, data: text('via the CLI') });
    assert.equal((await c.nextPacket())?.index, req.index);
    gw.kill('SIGTERM');
    assert.equal(await c.expectLogout(), Code.Waiting);
    const [code] = await once(gw, 'exit');
    assert.equal(code, 0);
  });

  it('refuses a bad config with one line naming the key, exit 2', async (t) => {
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true, force: true }));
    const file = join(keys.dir, 'bad.yaml');
    writeFileSync(file, 'limits: { maxFrameBytes: 99999999999 }\n');
    const gw = run(['gateway', '--config', file]);
    const [code] = await once(gw, 'exit');
    const out = await gw.out;
    assert.equal(code, 2);
    assert.match(out, /limits\.maxFrameBytes/);
    assert.equal(out.trim().split('\n').length, 1, out);
  });
});

describe('janus client', () => {
  it('exchanges demo messages typed on stdin', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const c = run(['client', '--uid', '4321', '--keys', s.keys.dir, '--port', String(s.gw.tcpPort)], 'echo hello there\ncount\nhb\nquit\n');
    const out = await c.out;
    assert.match(out, /connected over tcp .* uid 4321/);
    assert.match(out, /reply mod 3 seq 1 obj 4321: hello there/);
    assert.match(out, /\{"count":1\}/);
    assert.match(out, /heartbeat Succeeded/);
    assert.match(out, /bye/);
  });

  /** `janus client` logged in to `s` as `uid` with stdin left open; resolves once it printed "connected". */
  async function connectedClient(s: Stack, uid: number): Promise<ChildProcess & { out: Promise<string> }> {
    const c = run(['client', '--uid', String(uid), '--keys', s.keys.dir, '--port', String(s.gw.tcpPort)]);
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const onData = (d: Buffer) => {
        seen += d.toString();
        if (/connected over tcp/.test(seen)) {
          c.stdout!.off('data', onData);
          resolve();
        }
      };
      c.stdout!.on('data', onData);
      c.once('exit', (code) => reject(new Error(`janus client exited ${code} before it connected: ${seen}`)));
    });
    return c;
  }

  /** Waits for `c` to exit; its exit code and everything it printed. */
  async function exited(c: ChildProcess & { out: Promise<string> }): Promise<{ code: number | null; out: string }> {
    const out = await c.out; // settles on 'exit', listened for since the spawn
    return { code: c.exitCode, out };
  }

  it('exits 1 when the gateway ends the session with ServerLogout AdminKickOut or ConflictingLogin', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const kicked = await connectedClient(s, 4401);
    s.gw.sessions.get(4401n)!.kick(Code.AdminKickOut);
    const k = await exited(kicked);
    assert.equal(k.code, 1, k.out);
    assert.match(k.out, /ServerLogout AdminKickOut\n/);
    assert.match(k.out, /^janus: the gateway ended the session with ServerLogout AdminKickOut$/m);

    const older = await connectedClient(s, 4402);
    const newer = await loggedIn(s, 'tcp', 4402);
    t.after(() => newer.close());
    const o = await exited(older);
    assert.equal(o.code, 1, o.out);
    assert.match(o.out, /^janus: the gateway ended the session with ServerLogout ConflictingLogin$/m);
  });

  it('exits 0 when the gateway ends the session with ServerLogout Waiting (shutdown)', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const c = await connectedClient(s, 4403);
    await s.gw.close();
    const r = await exited(c);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ServerLogout Waiting/);
    assert.doesNotMatch(r.out, /^janus: /m);
  });

  it('exits 1 with one line when the login is refused with a ServerLogout (a token of another key: Unauthorized; no instance for its color: Waiting)', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    // Another key set's token.key beside this stack's client key and server pins.
    const other = await makeKeys();
    t.after(() => rmSync(other.dir, { recursive: true, force: true }));
    const names = keyFileNames(1);
    for (const f of [names.clientKey, names.serverPub]) copyFileSync(join(s.keys.dir, f), join(other.dir, f));
    const bad = run(['client', '--uid', '4404', '--keys', other.dir, '--port', String(s.gw.tcpPort)], 'echo unreached\n');
    const u = await exited(bad);
    assert.equal(u.code, 1, u.out);
    assert.match(u.out, /^janus: cannot log in to 127\.0\.0\.1:\d+ over tcp: .*Unauthorized/m);
    assert.doesNotMatch(u.out, /connected over/);

    const blue = run(['client', '--uid', '4405', '--keys', s.keys.dir, '--port', String(s.gw.tcpPort), '--color', 'blue'], 'echo unreached\n');
    const w = await exited(blue);
    assert.equal(w.code, 1, w.out);
    assert.match(w.out, /^janus: cannot log in to 127\.0\.0\.1:\d+ over tcp: .*Waiting/m);
  });
});
