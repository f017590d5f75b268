/**
 * Logs: repeated events aggregated per window (RepeatLog, on a manual clock), the close
 * reason of every connection at info with connection id and uid, logins, no token or
 * payload in any line, repeated backend failures logged once per window with a count.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SCServerLogout_Code as Code } from '@janus/protocol';
import { RepeatLog } from '../src/management/repeat-log.js';
import { ManualClock } from '../src/manual-clock.js';
import { memoryLogger } from './support/management.js';
import { RawClient } from './support/raw-client.js';
import { loggedIn, text } from './support/session.js';
import { startStack } from './support/stack.js';

describe('RepeatLog', () => {
  it('logs up to burst lines per key and window, then one summary with the count', () => {
    const clock = new ManualClock(1_000_000);
    const log = memoryLogger('info');
    const r = new RepeatLog(log.logger, clock, 10_000, 3);
    for (let i = 0; i < 10; i++) r.log('info', 'closed:idle_timeout', log.logger, { i }, 'closed');
    r.log('info', 'closed:shutdown', log.logger, {}, 'closed');
    assert.deepEqual(
      log.lines.map((l) => l.i),
      [0, 1, 2, undefined],
    );
    clock.advance(9_999);
    assert.equal(log.lines.length, 4);
    clock.advance(1);
    assert.equal(log.lines.length, 5);
    const summary = log.lines[4]!;
    assert.deepEqual([summary.event, summary.repeated, summary.intervalMs, summary.level], ['closed:idle_timeout', 7, 10_000, 30]);
    assert.match(String(summary.msg), /^closed \(7 more not logged in this 10000 ms window\)$/);
    // A new window starts with the next line.
    r.log('info', 'closed:idle_timeout', log.logger, { i: 10 }, 'closed');
    assert.equal(log.lines.at(-1)!.i, 10);
    r.close();
  });

  it('honours a per-call burst of 1 (errors: at most once per window) and flushes on close', () => {
    const clock = new ManualClock();
    const log = memoryLogger('info');
    const r = new RepeatLog(log.logger, clock, 5_000, 20);
    for (let i = 0; i < 4; i++) r.log('error', 'listener error:EMFILE', log.logger, { errno: 'EMFILE' }, 'listener error EMFILE', 1);
    assert.equal(log.lines.length, 1);
    r.close();
    assert.equal(log.lines.length, 2);
    assert.deepEqual([log.lines[1]!.repeated, log.lines[1]!.level], [3, 50]);
  });

  it('writes nothing below the logger level', () => {
    const clock = new ManualClock();
    const log = memoryLogger('warn');
    const r = new RepeatLog(log.logger, clock, 1000, 1);
    for (let i = 0; i < 3; i++) r.log('info', 'k', log.logger, {}, 'hidden');
    clock.advance(1000);
    r.close();
    assert.equal(log.lines.length, 0);
  });
});

describe('gateway logs', () => {
  it('logs logins and every close reason at info, with conn and uid, never a token or payload', async (t) => {
    const clock = new ManualClock();
    const log = memoryLogger('info');
    const s = await startStack({ clock, logger: log.logger });
    t.after(() => s.stop());
    const token = await s.token(41);
    const a = await RawClient.connect('tcp', s.gw.tcpPort);
    await a.handshake(s.keys.clientKey, s.keys.pins);
    a.sendAuth(token);
    assert.equal((await a.nextPacket())?.seq, 5);
    const login = await log.line((l) => l.msg === 'logged in');
    assert.deepEqual([login.uid, login.level, typeof login.conn], ['41', 30, 'number']);
    const secret = 'secret payload 1234';
    const r = a.send({ mod: 3, seq: 1, data: text(secret) });
    assert.equal((await a.nextPacket())?.index, r.index);

    // Conflicting login, then idle, then a bad token, then shutdown.
    const b = await loggedIn(s, 'tcp', 41);
    assert.equal(await a.expectLogout(), Code.ConflictingLogin);
    const conflict = await log.line((l) => l.msg === 'closed' && l.reason === 'conflicting_login');
    assert.deepEqual([conflict.uid, conflict.logout, conflict.close, conflict.level, conflict.conn], ['41', 'ConflictingLogin', 'end', 30, login.conn]);
    // durationMs is monotonic time since accept: the manual clock has not moved yet.
    assert.equal(conflict.durationMs, 0);

    clock.advance(s.gw.config.timeouts.idleMs);
    await b.ending;
    const idle = await log.line((l) => l.msg === 'closed' && l.reason === 'idle_timeout');
    assert.deepEqual([idle.uid, idle.close, idle.level], ['41', 'end', 30]);
    assert.equal(idle.durationMs, s.gw.config.timeouts.idleMs, 'accepted at monotonic 0, closed idleMs later');

    const badToken = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWg';
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(badToken);
    assert.equal(await c.expectLogout(), Code.Unauthorized);
    const refused = await log.line((l) => l.msg === 'closed' && l.reason === 'auth_refused');
    assert.deepEqual([refused.logout, refused.state, refused.level], ['Unauthorized', 'authenticating', 30]);
    assert.match(String(refused.detail), /does not authenticate/);

    const d = await loggedIn(s, 'ws', 42);
    await s.gw.close();
    await d.ending;
    const down = await log.line((l) => l.msg === 'closed' && l.reason === 'shutdown');
    assert.equal(down.uid, '42');

    const all = log.text();
    for (const leaked of [token, badToken, secret]) assert.equal(all.includes(leaked), false, `log holds ${leaked}`);
  });

  it('aggregates a flood of one close reason into a count', async (t) => {
    const clock = new ManualClock();
    const log = memoryLogger('info');
    const s = await startStack({ clock, logger: log.logger, config: { log: { level: 'info', repeatBurst: 2, repeatIntervalMs: 10_000 } } });
    t.after(() => s.stop());
    const clients = await Promise.all([0, 1, 2, 3, 4].map(() => RawClient.connect('tcp', s.gw.tcpPort)));
    for (const c of clients) c.sendRaw('GET / HTTP/1.1\r\n\r\n');
    await Promise.all(clients.map((c) => c.ending));
    // The gateway sees each close in its own close callback: yield turns (no sleep) until it has.
    for (let i = 0; i < 1000 && s.gw.connectionCount !== 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(s.gw.connectionCount, 0);
    clock.advance(10_000);
    const summary = await log.line((l) => l.event === 'closed:bad_input');
    assert.equal(summary.repeated, 3);
    assert.equal(log.lines.filter((l) => l.msg === 'closed' && l.reason === 'bad_input').length, 2);
  });

  it('logs a backend that is down once per window, naming its discovery name', async (t) => {
    const log = memoryLogger('info');
    const s = await startStack({ logger: log.logger, noBackend: true });
    t.after(() => s.stop());
    for (let i = 0; i < 3; i++) {
      const c = await RawClient.connect('tcp', s.gw.tcpPort);
      await c.handshake(s.keys.clientKey, s.keys.pins);
      c.sendAuth(await s.token(60 + i));
      assert.equal(await c.expectLogout(), Code.Waiting);
      await c.ending;
    }
    const closes = () => log.lines.filter((x) => x.msg === 'closed' && x.reason === 'no_player_backend').length;
    await log.line((l) => l.msg === 'closed' && closes() === 3);
    const failures = log.lines.filter((l) => l.msg === 'tunnel open failed');
    assert.equal(failures.length, 1);
    assert.deepEqual([failures[0]!.service, failures[0]!.discoveryName, failures[0]!.level], ['player', 'roma.player.service', 40]);
  });

  it('names the discovery name when a service has no instance for the color', async (t) => {
    const log = memoryLogger('info');
    const s = await startStack({ logger: log.logger });
    t.after(() => s.stop());
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(await s.token(70, { color: 'blue' }));
    assert.equal(await c.expectLogout(), Code.Waiting);
    const line = await log.line((l) => l.msg === 'no backend instance of roma.player.service for color "blue"');
    assert.equal(line.discoveryName, 'roma.player.service');
    const closed = await log.line((l) => l.msg === 'closed' && l.reason === 'no_player_backend');
    assert.match(String(closed.detail), /no player instance for color "blue"/);
  });
});
