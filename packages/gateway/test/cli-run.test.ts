/**
 * The running commands: `janus gateway --config FILE` (start, serve, SIGTERM -> graceful
 * exit) and `janus client --uid N` scripted through stdin.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SCServerLogout_Code as Code } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { RawClient } from './support/raw-client.js';
import { makeKeys, startStack } from './support/stack.js';
import { text } from './support/session.js';
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
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
    t.after(() => backend.close());
    const file = join(keys.dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'listen: { tcp: { host: 127.0.0.1, port: 0 }, ws: { host: 127.0.0.1, port: 0 } }',
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

  it('refuses a bad config with one line naming the key, exit 2', async () => {
    const keys = await makeKeys();
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
});
