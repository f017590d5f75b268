/**
 * The management server over real HTTP: /health, /ready, /metrics, /stats/connections,
 * /stats/routes, the log-level admin route, the bearer admin token.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { loggedIn, text } from './support/session.js';
import { memoryLogger, mgmt } from './support/management.js';
import { startStack } from './support/stack.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

describe('management server', () => {
  it('answers /health and /ready (listening, keys, backends reachable)', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const health = await mgmt(s, '/health');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await mgmt(s, '/ready');
    assert.equal(ready.status, 200, ready.body);
    const r = ready.json() as { ready: boolean; listening: boolean; keys: { ok: boolean; tokenKeys: number }; backends: Record<string, { instances: number; reachable: number }> };
    assert.equal(r.ready, true);
    assert.equal(r.listening, true);
    assert.equal(r.keys.ok, true);
    assert.equal(r.keys.tokenKeys, 1);
    assert.deepEqual(r.backends.player, { discoveryName: 'roma.player.service', instances: 1, reachable: 1 });
    assert.deepEqual(r.backends.room, { discoveryName: 'roma.room.service', instances: 1, reachable: 1 });
  });

  it('/ready is 503 naming the unreachable backend; /health stays 200', async (t) => {
    const s = await startStack({ noBackend: true });
    t.after(() => s.stop());
    const ready = await mgmt(s, '/ready');
    assert.equal(ready.status, 503);
    const r = ready.json() as { ready: boolean; listening: boolean; backends: Record<string, { instances: number; reachable: number }> };
    assert.equal(r.ready, false);
    assert.equal(r.listening, true);
    assert.deepEqual(r.backends.player, { discoveryName: 'roma.player.service', instances: 1, reachable: 0 });
    assert.equal((await mgmt(s, '/health')).status, 200);
  });

  it('/health and /ready turn 503 while the gateway shuts down', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 31);
    t.after(() => c.close());
    c.pauseReading(); // keeps the connection (and so the shutdown) open while we ask
    const closing = s.gw.close();
    const health = await mgmt(s, '/health');
    assert.equal(health.status, 503);
    assert.equal((await mgmt(s, '/ready')).status, 503);
    c.resumeReading();
    await closing;
  });

  it('/stats/connections lists connections with uid and state; /stats/routes the tables and instances', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const before = performance.now();
    const a = await loggedIn(s, 'tcp', 501);
    const b = await loggedIn(s, 'ws', 502);
    t.after(() => {
      a.close();
      b.close();
    });
    const room = a.send({ mod: 4, seq: 1, obj: 77n, data: text('{}') });
    assert.equal((await a.nextPacket())?.index, room.index);

    const st = (await mgmt(s, '/stats/connections')).json() as {
      active: number;
      sessions: number;
      byTransport: { tcp: number; ws: number };
      byState: Record<string, number>;
      connections: { uid: string | null; transport: string; state: string; remoteAddress: string; objectTunnels: number; ageMs: number }[];
    };
    const elapsed = performance.now() - before;
    assert.equal(st.active, 2);
    assert.equal(st.sessions, 2);
    assert.deepEqual(st.byTransport, { tcp: 1, ws: 1 });
    assert.equal(st.byState.open, 2);
    const uids = st.connections.map((c) => c.uid).sort();
    assert.deepEqual(uids, ['501', '502']);
    const ca = st.connections.find((c) => c.uid === '501')!;
    assert.deepEqual([ca.transport, ca.state, ca.remoteAddress, ca.objectTunnels], ['tcp', 'open', '127.0.0.1', 1]);
    // ageMs is monotonic time since accept: within the time this test took since before it connected.
    for (const c of st.connections) assert.ok(c.ageMs >= 0 && c.ageMs <= elapsed, `ageMs ${c.ageMs} within 0..${elapsed}`);
    const limited = (await mgmt(s, '/stats/connections?limit=1')).json() as { listed: number; active: number };
    assert.deepEqual([limited.listed, limited.active], [1, 2]);
    assert.equal((await mgmt(s, '/stats/connections?limit=x')).status, 400);

    const routes = (await mgmt(s, '/stats/routes')).json() as {
      modules: Record<string, { name: string; service: string }>;
      services: Record<string, { discoveryName: string; tunnelsOpen: number; instances: { id: string; address: string; tunnelsOpen: number }[] }>;
    };
    assert.deepEqual(routes.modules['4'], { name: 'room', service: 'room' });
    assert.equal(routes.services.player!.tunnelsOpen, 2);
    assert.equal(routes.services.room!.tunnelsOpen, 1);
    assert.deepEqual(
      routes.services.player!.instances.map((i) => [i.id, i.address, i.tunnelsOpen]),
      [['demo-1', `127.0.0.1:${s.backendPort}`, 3]],
    );
  });

  it('answers 404 for an unknown path and 405 (with Allow) for a wrong method', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const nf = await mgmt(s, '/nope');
    assert.equal(nf.status, 404);
    assert.equal((nf.json() as { error: { code: string } }).error.code, 'not_found');
    const na = await mgmt(s, '/health', { method: 'POST' });
    assert.equal(na.status, 405);
    assert.equal(na.headers.allow, 'GET');
  });

  it('requires the bearer admin token on admin routes only, when one is configured', async (t) => {
    const s = await startStack({ config: { management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN } } });
    t.after(() => s.stop());
    for (const path of ['/stats/connections', '/stats/routes', '/v1/admin/log-level']) {
      const none = await mgmt(s, path);
      assert.equal(none.status, 401, path);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.equal((await mgmt(s, path, { token: 'wrong-token-0123456789abcdef' })).status, 401, path);
      assert.equal((await mgmt(s, path, { token: ADMIN_TOKEN.slice(0, -1) })).status, 401, path);
      assert.equal((await mgmt(s, path, { token: ADMIN_TOKEN })).status, 200, path);
    }
    const put = await mgmt(s, '/v1/admin/log-level', { method: 'PUT', body: '{"level":"debug"}' });
    assert.equal(put.status, 401);
    assert.equal(s.gw.logLevel, 'silent');
    // Probes and the scrape stay open.
    assert.equal((await mgmt(s, '/health')).status, 200);
    assert.equal((await mgmt(s, '/ready')).status, 200);
    assert.equal((await mgmt(s, '/metrics')).status, 200);
  });

  it('admin routes are open when no token is configured (loopback default)', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    assert.equal(s.gw.management?.host, '127.0.0.1');
    assert.equal((await mgmt(s, '/stats/routes')).status, 200);
  });

  it('changes the log level at runtime, for live connections too', async (t) => {
    const log = memoryLogger('info');
    const s = await startStack({ logger: log.logger });
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 611);
    t.after(() => c.close());
    const before = c.send({ mod: 3, seq: 1, data: text('quiet') });
    assert.equal((await c.nextPacket())?.index, before.index);
    assert.equal(log.lines.filter((l) => l.msg === 'request').length, 0);

    assert.deepEqual((await mgmt(s, '/v1/admin/log-level')).json(), { level: 'info' });
    const put = await mgmt(s, '/v1/admin/log-level', { method: 'PUT', body: '{"level":"trace"}' });
    assert.equal(put.status, 200);
    assert.deepEqual(put.json(), { level: 'trace' });
    assert.equal(s.gw.logLevel, 'trace');
    const req = c.send({ mod: 3, seq: 1, data: text('loud') });
    assert.equal((await c.nextPacket())?.index, req.index);
    const line = await log.line((l) => l.msg === 'request');
    // One line per event: connection id, uid, mod and seq; no payload.
    assert.equal(typeof line.conn, 'number');
    assert.deepEqual([line.uid, line.mod, line.seq, line.index, line.level], ['611', 3, 1, req.index, 10]);
    assert.equal(log.text().includes('loud'), false, 'a payload reached the log');

    for (const body of ['{"level":"loud"}', '{}', 'not json', '{"level":3}']) {
      const bad = await mgmt(s, '/v1/admin/log-level', { method: 'PUT', body });
      assert.equal(bad.status, 400, body);
      assert.equal((bad.json() as { error: { code: string } }).error.code, 'JANUS_ERR_ARG_INVALID');
    }
    const long = await mgmt(s, '/v1/admin/log-level', { method: 'PUT', body: JSON.stringify({ level: 'x'.repeat(64 * 1024) }) });
    assert.deepEqual([long.status, long.headers.connection, long.json()], [400, 'close', { error: { code: 'JANUS_ERR_ARG_INVALID', message: 'request body over 4096 bytes' } }]);
    assert.equal(s.gw.logLevel, 'trace');
    const back = await mgmt(s, '/v1/admin/log-level', { method: 'PUT', body: '{"level":"warn"}' });
    assert.equal(back.status, 200);
    const quiet = c.send({ mod: 3, seq: 1, data: text('x') });
    assert.equal((await c.nextPacket())?.index, quiet.index);
    assert.equal(log.lines.filter((l) => l.msg === 'request').length, 1);
  });

  it('can be disabled (management.enabled: false)', async (t) => {
    const s = await startStack({ config: { management: { enabled: false } } });
    t.after(() => s.stop());
    assert.equal(s.gw.management, null);
  });
});
