/**
 * Hot reload on a running gateway (issue 9 item 5, docs/operations.md "Reload and key
 * rotation"): real sockets, a real config file rewritten between reloads, the demo backend.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeMessage, ErrorCode, SCServerLogout_Code as Code, SCServerUnexpectedErrSchema, parseTokenKey } from '@janus/protocol';
import { keyFileNames, type ReloadApplied, type ReloadRefused, type ReloadResult } from '../src/index.js';
import { ManualClock } from '../src/manual-clock.js';
import { RawClient } from './support/raw-client.js';
import { mgmt } from './support/management.js';
import { echo, helloRefusal, RELOAD_ADMIN_TOKEN, startFileStack, versionKeys } from './support/reload-stack.js';
import { str, text } from './support/session.js';
import { startStack } from './support/stack.js';
import { makeSelfSignedCert } from './support/tls-cert.js';

function applied(r: ReloadResult): ReloadApplied {
  assert.equal(r.ok, true, `reload refused: ${JSON.stringify(r)}`);
  return r as ReloadApplied;
}

function refused(r: ReloadResult): ReloadRefused {
  assert.equal(r.ok, false, `reload applied: ${JSON.stringify(r)}`);
  return r as ReloadRefused;
}

describe('reload: limits and keys with sessions open', () => {
  it('keeps sessions of a retired key version, serves the new version, refuses the retired one', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const before = await s.login('tcp', 101, v1);
    const beforeWs = await s.login('ws', 102, v1);
    await echo(before, 'opened on v1');

    // Add key version 2 and lower maxConnections to 3 in the same reload.
    const v2 = await s.addVersion(2);
    s.write({ limits: { maxConnections: 3 } });
    const r = applied(await s.gw.reload());
    assert.deepEqual(r.applied, ['limits.maxConnections']);
    assert.deepEqual(r.restartRequired, []);
    assert.deepEqual(r.keys?.clientKeys, { versions: [1, 2], added: [2], removed: [], replaced: [] });
    assert.deepEqual(r.keys?.serverKeys, { versions: [1, 2], added: [2], removed: [], replaced: [] });
    assert.deepEqual(r.keys?.tokenKeys, { count: 1, added: 0, removed: 0 });
    assert.equal(s.gw.config.limits.maxConnections, 3);

    // Sessions opened before the reload keep working on their session keys.
    await echo(before, 'still here after adding v2');
    await echo(beforeWs, 'ws too');
    // A client on the new version logs in; the new limit holds the next connection off.
    const onV2 = await s.login('tcp', 103, v2);
    await echo(onV2, 'new client on v2');
    const over = await RawClient.connect('tcp', s.gw.tcpPort);
    assert.equal(await over.expectLogout(), Code.Waiting);
    assert.deepEqual(await over.ending, { fin: true });

    // Retire version 1: its key files go, the limit goes back up.
    rmSync(join(s.keys.dir, keyFileNames(1).clientPub));
    rmSync(join(s.keys.dir, keyFileNames(1).serverKey));
    s.write({ limits: { maxConnections: 100 } });
    const retired = applied(await s.gw.reload());
    assert.deepEqual(retired.keys?.clientKeys, { versions: [2], added: [], removed: [1], replaced: [] });
    assert.deepEqual(retired.keys?.serverKeys, { versions: [2], added: [], removed: [1], replaced: [] });

    // The v1 sessions stay open; new handshakes with client key v1 or pinning server key v1 are refused.
    await echo(before, 'v1 session after v1 is retired');
    await echo(beforeWs, 'ws v1 session after v1 is retired');
    const oldClient = await RawClient.connect('tcp', s.gw.tcpPort);
    assert.equal(await helloRefusal(oldClient, v1.clientKey, { certVersion: 1, serverCertVersion: 0 }), Code.Unauthorized);
    assert.deepEqual(await oldClient.ending, { fin: true });
    const oldPin = await RawClient.connect('ws', s.gw.wsPort);
    assert.equal(await helloRefusal(oldPin, v2.clientKey, { certVersion: 2, serverCertVersion: 1 }), Code.BadVersion);
    assert.deepEqual(await oldPin.ending, { wsCode: 1008 });
    await echo(await s.login('ws', 104, v2), 'v2 after the retirement');
    await echo(onV2, 'v2 session from between the reloads');
  });

  it('rotates token keys: a second key is accepted after the reload, the retired one is refused', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const open = await s.login('tcp', 201, v1);
    const newKeyText = randomBytes(32).toString('base64');
    const newKey = parseTokenKey(newKeyText);
    writeFileSync(join(s.keys.dir, 'token-2.key'), newKeyText);

    // Before the reload a token under the new key does not open.
    const early = await RawClient.connect('tcp', s.gw.tcpPort);
    await early.handshake(v1.clientKey, new Map([[1, v1.serverPub]]));
    early.sendAuth(await s.token(202, newKey));
    assert.equal(await early.expectLogout(), Code.Unauthorized);

    s.write({ keys: { dir: '.', tokenKeys: ['token-2.key'] } });
    const added = applied(await s.gw.reload());
    assert.deepEqual(added.applied, ['keys.tokenKeys']);
    assert.deepEqual(added.keys?.tokenKeys, { count: 2, added: 1, removed: 0 });
    await echo(await s.login('tcp', 203, v1, newKey), 'new token key');
    await echo(await s.login('tcp', 204, v1), 'old token key still accepted');

    // Retire the directory's token.key: only token-2.key is left.
    rmSync(join(s.keys.dir, keyFileNames(1).tokenKey));
    const retired = applied(await s.gw.reload());
    assert.deepEqual(retired.keys?.tokenKeys, { count: 1, added: 0, removed: 1 });
    const late = await RawClient.connect('tcp', s.gw.tcpPort);
    await late.handshake(v1.clientKey, new Map([[1, v1.serverPub]]));
    late.sendAuth(await s.token(205, s.keys.tokenKey));
    assert.equal(await late.expectLogout(), Code.Unauthorized);
    await echo(open, 'logged in under the retired token key, still open');
    await echo(await s.login('ws', 206, v1, newKey), 'new token key on ws');
  });
});

describe('reload: per-connection limits', () => {
  it('gives new connections the new message limit; a connection from before keeps its own', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const old = await s.login('tcp', 150, v1);
    s.write({ limits: { messagesPerSecond: 1, messageBurst: 2 } });
    assert.deepEqual(applied(await s.gw.reload()).applied, ['limits.messageBurst', 'limits.messagesPerSecond']);
    const fresh = await s.login('tcp', 151, v1);
    // Three requests at once: the new bucket (2, refilling at 1/s) refuses the third.
    const reqs = [0, 1, 2].map((i) => fresh.send({ mod: 3, seq: 1, data: text(`r${i}`) }));
    // (The refusal comes from the gateway, the replies from the backend: sorted by index.)
    const answers = [await fresh.nextPacket(), await fresh.nextPacket(), await fresh.nextPacket()].sort((a, b) => a!.index - b!.index);
    assert.deepEqual(answers.map((p) => [p?.mod, p?.seq, p?.index]), [[3, 1, reqs[0]!.index], [3, 1, reqs[1]!.index], [1, 3, reqs[2]!.index]]);
    assert.equal(decodeMessage(SCServerUnexpectedErrSchema, answers[2]!.data).msg, 'rate limited');
    // The connection from before still has the default bucket (400).
    for (let i = 0; i < 5; i++) await echo(old, `old ${i}`);
  });
});

describe('reload: POST /v1/admin/reload', () => {
  it('reloads with the admin token (200), refuses without it (401) or another method (405), answers 422 for a bad file; the session stays', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const old = await s.login('tcp', 160, v1);
    s.write({ limits: { maxConnections: 50 } });
    assert.equal((await mgmt(s, '/v1/admin/reload', { method: 'POST' })).status, 401);
    assert.equal((await mgmt(s, '/v1/admin/reload', { method: 'POST', token: 'wrong-token-wrong-token-wrong' })).status, 401);
    assert.equal(s.reloads.length, 0, 'nothing reloaded without the token');
    const get = await mgmt(s, '/v1/admin/reload', { token: RELOAD_ADMIN_TOKEN });
    assert.deepEqual([get.status, get.headers.allow], [405, 'POST']);
    const ok = await mgmt(s, '/v1/admin/reload', { method: 'POST', token: RELOAD_ADMIN_TOKEN });
    assert.equal(ok.status, 200, ok.body);
    const body = ok.json() as ReloadApplied;
    assert.deepEqual([body.ok, body.trigger, body.applied], [true, 'api', ['limits.maxConnections']]);
    assert.equal(s.gw.config.limits.maxConnections, 50);
    s.write({ limits: { maxConnections: -1 } });
    const bad = await mgmt(s, '/v1/admin/reload', { method: 'POST', token: RELOAD_ADMIN_TOKEN });
    assert.equal(bad.status, 422, bad.body);
    const why = bad.json() as ReloadRefused;
    assert.deepEqual([why.ok, why.error.code, why.error.key], [false, ErrorCode.ConfigInvalid, 'limits.maxConnections']);
    assert.equal(s.gw.config.limits.maxConnections, 50, 'the running config stays');
    await echo(old, 'still here');
    await s.gw.close();
    // Closed: the management server is gone with the gateway, so the 503 is Gateway.reload's.
    assert.equal(refused(await s.gw.reload('api')).error.code, ErrorCode.ReloadUnavailable);
  });
});

describe('reload: module table, routes and static instances', () => {
  it('routes new modules and (mod, seq) overrides, and finds added instances, with the session kept', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const c = await s.login('tcp', 301, versionKeys(s.keys.dir, 1));
    const unexpected = async (mod: number, seq: number): Promise<string> => {
      const req = c.send({ mod, seq, data: text('{}') });
      const p = await c.nextPacket();
      assert.deepEqual([p?.mod, p?.seq, p?.index], [1, 3, req.index], 'expected ServerUnexpectedErr');
      return decodeMessage(SCServerUnexpectedErrSchema, p!.data).msg;
    };
    assert.equal(await unexpected(12, 1), 'no route for module 12');
    assert.equal(await unexpected(4, 1), 'no backend for room');

    const instances = [{ id: 'demo-1', endpoints: [`grpc://127.0.0.1:${s.backendPort}`] }];
    s.write({
      modules: { '3': { name: 'player', service: 'player' }, '4': { name: 'room', service: 'room' }, '12': { name: 'quest', service: 'player' } },
      routes: [{ mod: 4, seq: 3, service: 'player' }],
      discovery: { static: { 'roma.player.service': instances, 'roma.room.service': instances } },
    });
    const r = applied(await s.gw.reload());
    assert.ok(r.applied.includes('modules.12'), r.applied.join());
    assert.ok(r.applied.includes('routes'), r.applied.join());
    assert.ok(r.applied.includes('discovery.static.roma.room.service'), r.applied.join());

    // Module 12 now reaches the player backend (which answers that it does not know it).
    let req = c.send({ mod: 12, seq: 1, data: text('{}') });
    let p = await c.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index, str(p?.data)], [12, 1, req.index, '{"error":"unknown mod 12"}']);
    // Room Join reaches the room instance that was added.
    req = c.send({ mod: 4, seq: 1, obj: 77n, data: text('{"name":"ann"}') });
    p = await c.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index, str(p?.data)], [4, 1, req.index, '{"room":77,"members":[301]}']);
    // (4, 3) is overridden to the player service.
    req = c.send({ mod: 4, seq: 3, obj: 77n, data: text('{}') });
    p = await c.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index, str(p?.data)], [4, 3, req.index, '{"error":"unknown mod 4"}']);
    await echo(c, 'player tunnel from before the reload');
  });
});

describe('reload: refused and restart-only changes', () => {
  it('refuses an invalid config naming the bad key and keeps the running config, keys and limits', async (t) => {
    const s = await startFileStack({ extra: { limits: { maxConnections: 2 } } });
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const running = s.gw.config;
    const c = await s.login('tcp', 401, v1);

    s.write({ limits: { maxConnections: 0 } });
    let r = refused(await s.gw.reload());
    assert.equal(r.error.code, ErrorCode.ConfigInvalid);
    assert.equal(r.error.key, 'limits.maxConnections');
    assert.match(r.error.message, /^config limits\.maxConnections: /);

    s.write({ limits: { maxConections: 5 } });
    r = refused(await s.gw.reload());
    assert.equal(r.error.code, ErrorCode.ConfigInvalid);
    assert.match(r.error.message, /maxConections/);

    writeFileSync(s.file, 'limits: { maxConnections: 5\n');
    r = refused(await s.gw.reload());
    assert.equal(r.error.code, ErrorCode.ConfigInvalid);
    assert.match(r.error.message, /not valid YAML/);

    // A key file that does not load refuses the whole reload, the valid limit change in it too.
    writeFileSync(join(s.keys.dir, keyFileNames(3).clientPub), 'not a key\n');
    s.write({ limits: { maxConnections: 50 } });
    r = refused(await s.gw.reload());
    assert.equal(r.error.code, ErrorCode.KeyInvalid);
    assert.equal(r.error.key, 'keys');
    assert.ok(r.error.message.includes(keyFileNames(3).clientPub), r.error.message);

    // A key directory without a token key would leave no way to log in: refused.
    rmSync(join(s.keys.dir, keyFileNames(3).clientPub));
    mkdirSync(join(s.keys.dir, 'empty'));
    s.write({ keys: { dir: 'empty' } });
    r = refused(await s.gw.reload());
    assert.deepEqual([r.error.code, r.error.key], [ErrorCode.KeyInvalid, 'keys']);
    assert.match(r.error.message, /holds no token.key/);

    assert.equal(s.gw.config, running, 'the running config object stays');
    assert.equal(s.reloads.length, 5);
    // The old limit (2) and the old keys still hold: one more v1 session, then Waiting.
    await echo(c, 'kept through four refused reloads');
    await echo(await s.login('ws', 402, v1), 'v1 still accepted');
    const third = await RawClient.connect('tcp', s.gw.tcpPort);
    assert.equal(await third.expectLogout(), Code.Waiting);
  });

  it('applies the rest and reports a changed listen port as needing a restart, keeping the bound port', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const c = await s.login('tcp', 501, versionKeys(s.keys.dir, 1));
    const port = s.gw.tcpPort;
    s.write({
      listen: { tcp: { host: '127.0.0.1', port: 1 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 } },
      limits: { maxFrameBytes: 4096, messagesPerSecond: 50 },
      timeouts: { shutdownMs: 2000, tunnelConnectMs: 1000, loginMs: 4000 },
    });
    const r = applied(await s.gw.reload());
    assert.deepEqual(r.applied, ['limits.messagesPerSecond', 'timeouts.loginMs']);
    assert.deepEqual(r.restartRequired, ['limits.maxFrameBytes', 'listen.tcp.port']);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /restart.*limits\.maxFrameBytes, listen\.tcp\.port/);
    assert.equal(s.gw.config.listen.tcp.port, 0);
    assert.equal(s.gw.config.limits.maxFrameBytes, 65536);
    assert.equal(s.gw.config.limits.messagesPerSecond, 50);
    assert.equal(s.gw.config.timeouts.loginMs, 4000);
    assert.equal(s.gw.tcpPort, port);
    await echo(c, 'same listener');
    await echo(await s.login('tcp', 502, versionKeys(s.keys.dir, 1)), 'new connection on the running port');
  });

  it('refuses a reload without a config source, and once the gateway is closing', async (t) => {
    const st = await startStack({ noBackend: true });
    t.after(() => st.stop());
    const r = refused(await st.gw.reload());
    assert.equal(r.error.code, ErrorCode.ReloadUnavailable);
    const s = await startFileStack();
    t.after(() => s.stop());
    await s.gw.close();
    const late = refused(await s.gw.reload('signal'));
    assert.deepEqual([late.trigger, late.error.code], ['signal', ErrorCode.ReloadUnavailable]);
  });
});

/** A manual clock that says when a timer of `ms` is set (the watch's debounce). */
class ArmedClock extends ManualClock {
  private waiting: { ms: number; resolve: () => void }[] = [];

  override setTimeout(fn: () => void, ms: number) {
    for (const w of this.waiting.filter((x) => x.ms === ms)) w.resolve();
    this.waiting = this.waiting.filter((x) => x.ms !== ms);
    return super.setTimeout(fn, ms);
  }

  /** Resolves at the next setTimeout(…, ms). */
  armed(ms: number): Promise<void> {
    return new Promise((resolve) => this.waiting.push({ ms, resolve }));
  }
}

describe('reload: config file watch', () => {
  it('reloads once the file changed and the debounce (on the Clock) passed; an unchanged save reloads nothing', async (t) => {
    const clock = new ArmedClock();
    const watch = { watch: true, debounceMs: 250 };
    const s = await startFileStack({ clock, extra: { reload: watch } });
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const c = await s.login('tcp', 601, v1);

    let armed = clock.armed(250);
    s.write({ reload: watch, limits: { maxConnections: 1 } });
    await armed;
    assert.equal(s.reloads.length, 0, 'nothing before the debounce passed');
    clock.advance(249);
    assert.equal(s.reloads.length, 0);
    clock.advance(1);
    assert.equal(s.reloads.length, 1);
    const r = applied(s.reloads[0]!);
    assert.equal(r.trigger, 'watch');
    assert.deepEqual(r.applied, ['limits.maxConnections']);
    await echo(c, 'open through the watched reload');
    const over = await RawClient.connect('tcp', s.gw.tcpPort);
    assert.equal(await over.expectLogout(), Code.Waiting);

    // The same text written again: the timer runs, the text is compared, no reload.
    armed = clock.armed(250);
    s.write({ reload: watch, limits: { maxConnections: 1 } });
    await armed;
    clock.advance(250);
    assert.equal(s.reloads.length, 1);

    // An editor's save: a new file renamed over the old one (the watch is on the directory).
    armed = clock.armed(250);
    writeFileSync(`${s.file}.tmp`, readFileSync(s.file, 'utf8').replace('maxConnections: 1', 'maxConnections: 2'));
    renameSync(`${s.file}.tmp`, s.file);
    await armed;
    clock.advance(250);
    assert.equal(s.reloads.length, 2);
    assert.deepEqual(applied(s.reloads[1]!).applied, ['limits.maxConnections']);
    assert.equal(s.gw.config.limits.maxConnections, 2);

    // Turning the watch off is itself reloaded: later edits wait for SIGHUP / reload().
    armed = clock.armed(250);
    s.write({ reload: { ...watch, watch: false }, limits: { maxConnections: 2 } });
    await armed;
    clock.advance(250);
    assert.equal(s.reloads.length, 3);
    assert.deepEqual(applied(s.reloads[2]!).applied, ['reload.watch']);
  });
});

describe('reload: the wss certificate', () => {
  it('installs a new certificate for new TLS handshakes; a wss session from before stays', async (t) => {
    const s = await startFileStack();
    t.after(() => s.stop());
    const a = await makeSelfSignedCert(s.keys.dir, 'a');
    const b = await makeSelfSignedCert(s.keys.dir, 'b');
    const listenTls = (ws: Record<string, unknown>) => ({
      listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0, ...ws }, grpc: { host: '127.0.0.1', port: 0 } },
    });
    // wss from the start needs a gateway started with tls: a second stack with cert a.
    const w = await startFileStack({ extra: listenTls({ tls: { certFile: a.certFile, keyFile: a.keyFile } }) });
    t.after(() => w.stop());
    const v1 = versionKeys(w.keys.dir, 1);
    const login = async (ca: string, uid: number) => {
      const c = await RawClient.connect('ws', w.gw.wsPort, ['janus.v1'], { ca });
      await c.handshake(v1.clientKey, new Map([[1, v1.serverPub]]));
      c.sendAuth(await w.token(uid));
      assert.equal((await c.nextPacket())?.seq, 5);
      return c;
    };
    const old = await login(a.certPem, 701);

    // Same file names, new contents (a renewed certificate).
    const certFile = join(w.keys.dir, 'live.cert.pem');
    const keyFile = join(w.keys.dir, 'live.key.pem');
    copyFileSync(a.certFile, certFile);
    copyFileSync(a.keyFile, keyFile);
    w.write(listenTls({ tls: { certFile, keyFile } }));
    const moved = applied(await w.gw.reload());
    assert.deepEqual(moved.applied, ['listen.ws.tls.certFile', 'listen.ws.tls.keyFile']);
    assert.equal(moved.tlsReloaded, false, 'same certificate under new names');
    copyFileSync(b.certFile, certFile);
    copyFileSync(b.keyFile, keyFile);
    const renewed = applied(await w.gw.reload());
    assert.deepEqual(renewed.applied, []);
    assert.equal(renewed.tlsReloaded, true);

    await echo(old, 'wss session from before the new certificate');
    await echo(await login(b.certPem, 702), 'new certificate');
    await assert.rejects(RawClient.connect('ws', w.gw.wsPort, ['janus.v1'], { ca: a.certPem }), /self.signed|certificate/i);

    // Turning TLS off is a listener change: reported, not applied.
    w.write(listenTls({}));
    const off = applied(await w.gw.reload());
    assert.deepEqual(off.restartRequired, ['listen.ws.tls']);
    assert.ok(w.gw.config.listen.ws.tls);
    await echo(await login(b.certPem, 703), 'still wss');
    // A plain-ws gateway cannot turn TLS on by reload either.
    s.write(listenTls({ tls: { certFile: a.certFile, keyFile: a.keyFile } }));
    assert.deepEqual(applied(await s.gw.reload()).restartRequired, ['listen.ws.tls']);
    assert.equal(s.gw.config.listen.ws.tls, undefined);
  });
});

describe('reload: log level', () => {
  it('changes the level of the gateway and of connections opened before the reload', async (t) => {
    const out = new PassThrough();
    const lines: { msg?: string; conn?: number }[] = [];
    const waiters: { test: (l: { msg?: string; conn?: number }) => boolean; resolve: () => void }[] = [];
    let buf = '';
    out.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const l = JSON.parse(buf.slice(0, nl)) as { msg?: string; conn?: number };
        buf = buf.slice(nl + 1);
        lines.push(l);
        for (const w of waiters.filter((x) => x.test(l))) w.resolve();
      }
    });
    /** Resolves once a line passing `test` was logged; fails the test after 5 s without one. */
    const logged = (test: (l: { msg?: string; conn?: number }) => boolean, what: string): Promise<void> =>
      lines.some(test)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no log line: ${what}`)), 5000);
            waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
          });
    const s = await startFileStack({ logger: pino({ level: 'info' }, out), extra: { log: { level: 'info' } } });
    t.after(() => s.stop());
    const v1 = versionKeys(s.keys.dir, 1);
    const early = await s.login('tcp', 801, v1);
    assert.equal(lines.filter((l) => l.msg === 'accepted').length, 0, 'no debug lines at info');

    s.write({ log: { level: 'debug' } });
    assert.deepEqual(applied(await s.gw.reload()).applied, ['log.level']);
    await s.login('tcp', 802, v1);
    early.close();
    // The new connection logs at debug, and so does the one from before the reload as it closes.
    await logged((l) => l.msg === 'accepted' && l.conn === 2, 'debug line of the new connection');
    await logged((l) => l.msg === 'closed' && l.conn === 1, 'debug line of the connection opened before the reload');
  });
});
