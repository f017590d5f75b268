/**
 * SIGHUP to a real `janus gateway --config FILE` child process reloads its config file
 * (docs/operations.md "Reload and key rotation"): a session opened before stays, the new
 * key version and the new limit hold, and a bad file is refused with the key named while
 * the process keeps serving.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { AuthToken_Status, SCServerLogout_Code as Code, sealToken } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { startDemoBackend } from '@janus/demo-backend';
import { keygen } from '../src/index.js';
import { JANUS } from './support/janus-cli.js';
import { RawClient } from './support/raw-client.js';
import { echo, versionKeys } from './support/reload-stack.js';
import { makeKeys } from './support/stack.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** The child's stdout as JSON log lines, with a wait for the next line matching a test. */
class LogLines {
  readonly lines: Record<string, unknown>[] = [];
  private buf = '';
  private waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void; from: number }[] = [];

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
        this.settle();
      }
    });
  }

  private settle(): void {
    this.waiters = this.waiters.filter((w) => {
      const hit = this.lines.slice(w.from).find(w.test);
      if (hit) w.resolve(hit);
      return !hit;
    });
  }

  /** The first line from now on (not one already seen) whose msg is `msg`. */
  next(msg: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiters.push({ test: (l) => l.msg === msg, resolve, from: this.lines.length });
      this.settle();
    });
  }
}

describe('janus gateway: SIGHUP', () => {
  it('reloads the config file: open sessions stay, a new key version and a new limit take effect, a bad file is refused', async (t) => {
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true, force: true }));
    const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
    t.after(() => backend.close());
    const file = join(keys.dir, 'gateway.yaml');
    const write = (limits: Record<string, unknown>) =>
      writeFileSync(
        file,
        stringify({
          listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 } },
          management: { host: '127.0.0.1', port: 0 },
          keys: { dir: '.' },
          discovery: { static: { 'roma.player.service': [{ id: 'b1', endpoints: [`grpc://127.0.0.1:${backend.port}`] }] } },
          timeouts: { shutdownMs: 3000 },
          limits,
        }),
      );
    write({});
    const gw = spawn(process.execPath, [JANUS, 'gateway', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(gw);
    const log = new LogLines(gw);
    const listening = await Promise.race([
      log.next('gateway listening'),
      once(gw, 'exit').then(() => {
        throw new Error('gateway exited before listening');
      }),
    ]);
    const port = Number(/:(\d+)$/.exec(listening.tcp as string)![1]);
    const token = (uid: number) =>
      sealToken(nodeCrypto, keys.tokenKey, { accountId: BigInt(uid), timeout: BigInt(Math.floor(Date.now() / 1000) + 60), status: AuthToken_Status.GATE });
    const login = async (uid: number, v: ReturnType<typeof versionKeys>) => {
      const c = await RawClient.connect('tcp', port);
      await c.handshake(v.clientKey, new Map([[v.version, v.serverPub]]), { certVersion: v.version, serverCertVersion: v.version });
      c.sendAuth(await token(uid));
      assert.equal((await c.nextPacket())?.seq, 5);
      return c;
    };
    const open = await login(1, versionKeys(keys.dir, 1));
    await echo(open, 'before SIGHUP');

    await keygen({ outDir: keys.dir, version: 2 });
    write({ maxConnections: 2 });
    let reloaded = log.next('config reloaded');
    gw.kill('SIGHUP');
    const line = await reloaded;
    assert.equal(line.trigger, 'signal');
    assert.deepEqual(line.applied, ['limits.maxConnections']);
    assert.deepEqual((line.keys as { clientKeys: { added: number[] } }).clientKeys.added, [2]);

    await echo(open, 'after SIGHUP');
    const v2 = await login(2, versionKeys(keys.dir, 2));
    await echo(v2, 'new key version');
    const third = await RawClient.connect('tcp', port);
    assert.equal(await third.expectLogout(), Code.Waiting);

    writeFileSync(file, 'limits: { maxConnections: -1 }\n');
    const refusedLine = log.next('config reload refused; the running config stays');
    gw.kill('SIGHUP');
    const bad = await refusedLine;
    assert.deepEqual([bad.trigger, bad.code, bad.key], ['signal', 'JANUS_ERR_CONFIG_INVALID', 'limits.maxConnections']);
    await echo(open, 'after a refused reload');
    await echo(v2, 'v2 still open');

    // A third, valid reload still works: the process did not stop handling SIGHUP.
    write({ maxConnections: 3 });
    reloaded = log.next('config reloaded');
    gw.kill('SIGHUP');
    assert.deepEqual((await reloaded).applied, ['limits.maxConnections']);
    await echo(await login(3, versionKeys(keys.dir, 1)), 'room for a third');

    gw.kill('SIGTERM');
    const [code] = await once(gw, 'exit');
    assert.equal(code, 0);
    // The reload lines name versions and files, never key material.
    const logged = JSON.stringify(log.lines);
    assert.ok(!logged.includes(readFileSync(join(keys.dir, 'token.key'), 'utf8').trim()), 'the token key was logged');
    assert.ok(!logged.includes('PRIVATE KEY'), 'a private key was logged');
  });
});
