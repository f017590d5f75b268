/**
 * Every gateway metric moves when its event happens (real sockets, real scrapes of
 * /metrics), and `promtool check metrics` passes on a scrape taken under traffic.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { decodeMessage, encodePacket, makePacket, RECORD_TAG_BYTES, SCServerLogout_Code as Code, SCServerUnexpectedErrSchema } from '@janus/protocol';
import { RawClient } from './support/raw-client.js';
import { ManualClock } from '../src/manual-clock.js';
import { memoryLogger, mgmt, scrape, type MemoryLog, type Scrape } from './support/management.js';
import { loggedIn, text } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

/** The gateway's `closed` line for its connection number `conn` (event-driven wait). */
const closedLine = (log: MemoryLog, pred: (l: Record<string, unknown>) => boolean) => log.line((l) => l.msg === 'closed' && pred(l));

/** Differences between two scrapes. */
function delta(a: Scrape, b: Scrape) {
  return (name: string, labels: Record<string, string> = {}) => b.get(name, labels) - a.get(name, labels);
}

async function stackWithLog(o: Parameters<typeof startStack>[0] = {}): Promise<{ s: Stack; log: MemoryLog }> {
  const log = memoryLogger('info');
  const s = await startStack({ ...o, logger: log.logger, config: { metrics: { latencySampleEvery: 1, processMetrics: false }, ...o.config } });
  return { s, log };
}

describe('metrics', () => {
  it('connections: accepted, active, peak, disconnects by reason; sessions and logins', async (t) => {
    const { s, log } = await stackWithLog();
    t.after(() => s.stop());
    const m0 = await scrape(s);
    assert.equal(m0.get('janus_connections_active'), 0);
    const a = await loggedIn(s, 'tcp', 101);
    const b = await loggedIn(s, 'ws', 102);
    const m1 = await scrape(s);
    const d1 = delta(m0, m1);
    assert.equal(d1('janus_connections_accepted_total', { transport: 'tcp' }), 1);
    assert.equal(d1('janus_connections_accepted_total', { transport: 'ws' }), 1);
    assert.equal(m1.get('janus_connections_active', { transport: 'tcp' }), 1);
    assert.equal(m1.get('janus_connections_active', { transport: 'ws' }), 1);
    assert.equal(m1.get('janus_connections_peak'), 2);
    assert.equal(m1.get('janus_sessions_active'), 1 + 1);
    assert.equal(d1('janus_logins_total'), 2);
    assert.equal(m1.get('janus_tunnels_open', { service: 'player' }), 2);

    a.close();
    await closedLine(log, (l) => l.uid === '101');
    const m2 = await scrape(s);
    assert.equal(m2.get('janus_connections_active', { transport: 'tcp' }), 0);
    assert.equal(m2.get('janus_connections_peak'), 2);
    assert.equal(delta(m1, m2)('janus_disconnects_total', { reason: 'peer_closed', logout: 'none', close: 'peer' }), 1);

    // A second login of uid 102 ends the first with ConflictingLogin.
    const b2 = await loggedIn(s, 'tcp', 102);
    t.after(() => b2.close());
    assert.equal(await b.expectLogout(), Code.ConflictingLogin);
    await closedLine(log, (l) => l.reason === 'conflicting_login');
    const m3 = await scrape(s);
    assert.equal(delta(m2, m3)('janus_disconnects_total', { reason: 'conflicting_login', logout: 'ConflictingLogin', close: 'end' }), 1);
    assert.equal(m3.get('janus_connections_peak'), 2);
  });

  it('requests by module, latency histograms, errors by type, pushes, bytes', async (t) => {
    const { s } = await stackWithLog();
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 201);
    t.after(() => c.close());
    const m0 = await scrape(s);
    for (let i = 0; i < 5; i++) {
      const r = c.send({ mod: 3, seq: 1, data: text(`echo ${i}`) });
      assert.equal((await c.nextPacket())?.index, r.index);
    }
    const hb = c.sendHeartbeat(BigInt(Math.floor(Date.now() / 1000)));
    assert.equal((await c.nextPacket())?.index, hb.index);
    const unrouted = c.send({ mod: 99, seq: 1, data: text('?') });
    const err = await c.nextPacket();
    assert.deepEqual([err?.mod, err?.seq, err?.index], [1, 3, unrouted.index]);
    const room = c.send({ mod: 4, seq: 1, obj: 9n, data: text('{}') });
    assert.equal((await c.nextPacket())?.index, room.index);
    // PushLater: an empty reply, then a server-initiated push (index 0).
    const later = c.send({ mod: 3, seq: 3, data: text('pushed') });
    assert.equal((await c.nextPacket())?.index, later.index);
    const push = await c.nextPacket();
    assert.deepEqual([push?.mod, push?.seq, push?.index], [3, 4, 0]);

    const m1 = await scrape(s);
    const d = delta(m0, m1);
    assert.equal(d('janus_requests_total', { module: 'player' }), 6);
    assert.equal(d('janus_requests_total', { module: 'room' }), 1);
    assert.equal(d('janus_requests_total', { module: 'system' }), 1);
    assert.equal(d('janus_requests_total', { module: 'unknown' }), 1);
    assert.equal(d('janus_errors_total', { type: 'no_route' }), 1);
    // Every request with a reply is timed (latencySampleEvery: 1): 6 player, 1 room.
    assert.equal(d('janus_request_duration_seconds_count'), 7);
    assert.equal(d('janus_gateway_processing_seconds_count'), 7);
    assert.equal(d('janus_tunnel_roundtrip_seconds_count', { service: 'player' }), 6);
    assert.equal(d('janus_tunnel_roundtrip_seconds_count', { service: 'room' }), 1);
    assert.ok(d('janus_request_duration_seconds_sum') > 0);
    assert.ok(d('janus_request_duration_seconds_sum') >= d('janus_tunnel_roundtrip_seconds_sum'));
    assert.equal(d('janus_pushes_attempted_total'), 1);
    assert.equal(d('janus_pushes_delivered_total'), 1);
    assert.ok(d('janus_received_bytes_total', { transport: 'tcp' }) > 9 * 20, 'bytes in');
    assert.ok(d('janus_sent_bytes_total', { transport: 'tcp' }) > 9 * 20, 'bytes out');
    assert.equal(m1.get('janus_tunnels_open', { service: 'room' }), 1);
  });

  it('tunnels open by service go up with use and back to 0 once the backend ended them', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 203);
    for (const room of [1n, 2n]) {
      const r = c.send({ mod: 4, seq: 1, obj: room, data: text('{}') });
      assert.equal((await c.nextPacket())?.index, r.index);
    }
    const m1 = await scrape(s);
    assert.deepEqual([m1.get('janus_tunnels_open', { service: 'player' }), m1.get('janus_tunnels_open', { service: 'room' })], [1, 2]);
    c.close();
    // The streams end when the backend answers the half-close: re-scrape until it has (no sleep).
    let m2 = await scrape(s);
    for (let i = 0; i < 2000 && m2.get('janus_tunnels_open') !== 0; i++) m2 = await scrape(s);
    assert.deepEqual([m2.get('janus_tunnels_open', { service: 'player' }), m2.get('janus_tunnels_open', { service: 'room' })], [0, 0]);
  });

  it('a reply over maxFrameBytes counts as reply_too_large', async (t) => {
    const s = await startStack({ config: { limits: { maxFrameBytes: 256 } } });
    t.after(() => s.stop());
    const uid = 2_000_000_000;
    const c = await loggedIn(s, 'tcp', uid);
    t.after(() => c.close());
    // The largest echo request that fits: its reply carries obj = uid as well, so it does not.
    const size = (obj: bigint, n: number) => encodePacket(makePacket({ mod: 3, seq: 1, index: c.index, obj, data: new Uint8Array(n) })).length + RECORD_TAG_BYTES;
    let n = 1;
    while (size(0n, n + 1) <= 256) n++;
    assert.ok(size(BigInt(uid), n) > 256);
    const m0 = await scrape(s);
    const r = c.send({ mod: 3, seq: 1, data: new Uint8Array(n) });
    const p = await c.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index], [1, 3, r.index]);
    assert.equal(decodeMessage(SCServerUnexpectedErrSchema, p!.data).msg, 'reply too large');
    assert.equal(delta(m0, await scrape(s))('janus_errors_total', { type: 'reply_too_large' }), 1);
  });

  it('samples one request in latencySampleEvery', async (t) => {
    const s = await startStack({ config: { metrics: { latencySampleEvery: 4 } } });
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 202);
    t.after(() => c.close());
    const m0 = await scrape(s);
    for (let i = 0; i < 8; i++) {
      const r = c.send({ mod: 3, seq: 1, data: text('x') });
      assert.equal((await c.nextPacket())?.index, r.index);
    }
    const d = delta(m0, await scrape(s));
    assert.equal(d('janus_requests_total', { module: 'player' }), 8);
    assert.equal(d('janus_request_duration_seconds_count'), 2);
  });

  it('handshake failures by reason, with their disconnects', async (t) => {
    const clock = new ManualClock();
    const { s, log } = await stackWithLog({ clock });
    t.after(() => s.stop());
    const m0 = await scrape(s);

    const bad = await RawClient.connect('tcp', s.gw.tcpPort);
    await bad.handshake(s.keys.clientKey, s.keys.pins);
    bad.sendAuth('not-a-token');
    assert.equal(await bad.expectLogout(), Code.Unauthorized);
    const expired = await RawClient.connect('tcp', s.gw.tcpPort);
    await expired.handshake(s.keys.clientKey, s.keys.pins);
    expired.sendAuth(await s.token(5, { ttlS: -10 }));
    assert.equal(await expired.expectLogout(), Code.TokenExpired);
    const skew = await RawClient.connect('tcp', s.gw.tcpPort);
    assert.ok(await skew.sendHello(s.keys.clientKey, { timestamp: BigInt(Math.floor(clock.now() / 1000) - 3600) }));
    const idle = await RawClient.connect('tcp', s.gw.tcpPort);
    await log.line((l) => l.msg === 'closed' && l.reason === 'handshake_refused');
    clock.advance(s.gw.config.timeouts.handshakeMs);
    assert.deepEqual(await idle.ending, { fin: true });
    // "GET / HTTP/1.1" as a length prefix: destroyed at once (the TCP destroy of a fully read
    // socket shows as FIN here; the gateway's close line says destroy), and the log says HTTP.
    const http = await RawClient.connect('tcp', s.gw.tcpPort);
    http.sendRaw('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await http.ending;
    const badInput = await closedLine(log, (l) => l.reason === 'bad_input');
    assert.equal(badInput.close, 'destroy');
    assert.match(String(badInput.detail), /over maxFrameBytes 65536: the client sent an HTTP\/1\.x request, not a Janus frame \(a client pointed at the wrong port\?\)/);
    await closedLine(log, (l) => l.reason === 'handshake_timeout');
    await log.line((l) => l.msg === 'closed' && l.logout === 'TokenExpired');

    const d = delta(m0, await scrape(s));
    assert.equal(d('janus_handshake_failures_total', { reason: 'token_invalid' }), 1);
    assert.equal(d('janus_handshake_failures_total', { reason: 'token_expired' }), 1);
    assert.equal(d('janus_handshake_failures_total', { reason: 'clock_skew' }), 1);
    assert.equal(d('janus_handshake_failures_total', { reason: 'timeout' }), 1);
    assert.equal(d('janus_handshake_failures_total', { reason: 'malformed' }), 1);
    assert.equal(d('janus_errors_total', { type: 'frame_too_large' }), 1);
    assert.equal(d('janus_disconnects_total', { reason: 'auth_refused', logout: 'Unauthorized', close: 'end' }), 1);
    assert.equal(d('janus_disconnects_total', { reason: 'auth_refused', logout: 'TokenExpired', close: 'end' }), 1);
    assert.equal(d('janus_disconnects_total', { reason: 'handshake_refused', logout: 'ClockSkew', close: 'end' }), 1);
    assert.equal(d('janus_disconnects_total', { reason: 'handshake_timeout', logout: 'none', close: 'end' }), 1);
    assert.equal(d('janus_disconnects_total', { reason: 'bad_input', logout: 'none', close: 'destroy' }), 1);
    for (const c of [bad, expired, skew]) c.close();
  });

  it('refusals at accept and rate-limit errors', async (t) => {
    const clock = new ManualClock();
    const { s, log } = await stackWithLog({ clock, config: { limits: { maxConnections: 1, messagesPerSecond: 1, messageBurst: 1 } } });
    t.after(() => s.stop());
    const m0 = await scrape(s);
    const c = await loggedIn(s, 'tcp', 301);
    t.after(() => c.close());
    const turnedAway = await RawClient.connect('tcp', s.gw.tcpPort);
    assert.equal(await turnedAway.expectLogout(), Code.Waiting);
    await log.line((l) => l.msg === 'connection refused at accept (ServerLogout Waiting)' && l.reason === 'max_connections');
    c.send({ mod: 3, seq: 1, data: text('1') });
    assert.equal((await c.nextPacket())?.mod, 3);
    const over = c.send({ mod: 3, seq: 1, data: text('2') });
    const refused = await c.nextPacket();
    assert.deepEqual([refused?.mod, refused?.seq, refused?.index], [1, 3, over.index]);
    const d = delta(m0, await scrape(s));
    assert.equal(d('janus_connections_refused_total', { reason: 'max_connections' }), 1);
    assert.equal(d('janus_errors_total', { type: 'rate_limited' }), 1);
    assert.equal(d('janus_connections_accepted_total', { transport: 'tcp' }), 1);
  });

  it('no backend: tunnel open errors and login failures', async (t) => {
    const { s, log } = await stackWithLog({ noBackend: true });
    t.after(() => s.stop());
    const m0 = await scrape(s);
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(await s.token(401));
    assert.equal(await c.expectLogout(), Code.Waiting);
    const closed = await closedLine(log, (l) => l.reason === 'no_player_backend');
    assert.equal(closed.logout, 'Waiting');
    const d = delta(m0, await scrape(s));
    assert.equal(d('janus_handshake_failures_total', { reason: 'no_player_backend' }), 1);
    assert.equal(d('janus_errors_total', { type: 'tunnel_open_failed' }), 1);
    assert.equal(d('janus_disconnects_total', { reason: 'no_player_backend', logout: 'Waiting', close: 'end' }), 1);
    assert.equal(d('janus_tunnels_open', { service: 'player' }), 0);
  });

  it('shutdown disconnects count as shutdown', async (t) => {
    const { s, log } = await stackWithLog();
    t.after(() => s.stop());
    const c = await loggedIn(s, 'ws', 501);
    const scrapeBefore = await scrape(s);
    const closing = s.gw.close();
    assert.equal(await c.expectLogout(), Code.Waiting);
    assert.equal((await c.ending).wsCode, 1001);
    await closing;
    const line = await closedLine(log, (l) => l.uid === '501');
    assert.deepEqual([line.reason, line.logout, line.close], ['shutdown', 'Waiting', 'end']);
    const after = await s.gw.metrics.scrape();
    assert.match(after, /janus_disconnects_total\{reason="shutdown",logout="Waiting",close="end"\} 1/);
    assert.equal(scrapeBefore.get('janus_disconnects_total', { reason: 'shutdown' }), 0);
  });

  it('includes the Node process metrics (CPU, memory, event-loop lag, GC)', async (t) => {
    const s = await startStack({ config: { metrics: { processMetrics: true } } });
    t.after(() => s.stop());
    const m = await scrape(s);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      assert.ok(m.has(name), name);
    }
    assert.match(m.text, /# TYPE nodejs_gc_duration_seconds histogram/);
  });

  it('has no uid or address in any label', async (t) => {
    const s = await startStack();
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 987654321);
    t.after(() => c.close());
    const r = c.send({ mod: 3, seq: 1, data: text('x') });
    assert.equal((await c.nextPacket())?.index, r.index);
    const m = await scrape(s);
    for (const sample of m.samples) {
      for (const v of Object.values(sample.labels)) {
        assert.ok(!v.includes('987654321') && !v.includes('127.0.0.1'), `${sample.name} ${JSON.stringify(sample.labels)}`);
      }
    }
  });

  it('passes promtool check metrics on a scrape taken under traffic', async (t) => {
    const s = await startStack({ config: { metrics: { processMetrics: true } } });
    t.after(() => s.stop());
    const clients = await Promise.all([1, 2, 3, 4].map((i) => loggedIn(s, i % 2 ? 'tcp' : 'ws', 700 + i)));
    t.after(() => clients.forEach((c) => c.close()));
    let running = true;
    const traffic = clients.map(async (c) => {
      while (running) {
        const r = c.send({ mod: 3, seq: 1, data: text('load') });
        const p = await c.nextPacket();
        assert.equal(p?.index, r.index);
      }
    });
    // Scrapes taken while the requests flow.
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push((await mgmt(s, '/metrics')).body);
    running = false;
    await Promise.all(traffic);
    assert.ok(parseFloat(/janus_requests_total\{module="player"\} (\d+)/.exec(texts[2]!)![1]!) > 0);
    for (const body of texts) {
      const r = await promtool(body);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.trim(), '', r.out);
    }
  });
});

/** Runs `promtool check metrics` with `body` on stdin. */
function promtool(body: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(body);
  });
}
