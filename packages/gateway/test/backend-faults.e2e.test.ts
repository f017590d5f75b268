/**
 * Fault injection on the backend link (issue 11 item 2; docs/reliability.md "Backend
 * faults"): the demo backend runs as a child process and is killed mid-stream (SIGKILL),
 * frozen (SIGSTOP), replaced by a listener that accepts TCP and never answers, and restarted
 * on the same port. In each case the clients get the answer PROTOCOL.md 9 names (player
 * stream: ServerLogout Waiting; object stream: ServerUnexpectedErr with index 0, then with
 * the request's index while no stream opens) within the bound docs/reliability.md states,
 * and recover by themselves: SDK clients with a reconnect policy, no step by the test on
 * the gateway. Bounds are asserted with a margin (BOUND_SLACK_MS) for a loaded machine.
 */
import { strict as assert } from 'node:assert';
import { describe, it, type TestContext } from 'node:test';
import { performance } from 'node:perf_hooks';
import { ErrorCode, isJanusError, JanusClient, SCServerLogout_Code as Code, type CloseReason } from '@janus/client';
import { startDemoBackend } from '@janus/demo-backend';
import { BackendProcess, eventWithin } from './support/backend-process.js';
import { MuteBackend } from './support/mute-backend.js';
import { str, text, tryLogin } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

/** Test settings (docs/reliability.md gives the bounds in terms of these keys). */
const KEEPALIVE_MS = 200;
const KEEPALIVE_TIMEOUT_MS = 300;
const TUNNEL_CONNECT_MS = 500;
/** The tunnel client's largest reconnect backoff (tunnel.ts RECONNECT_BACKOFF_MAX_MS). */
const CHANNEL_BACKOFF_MAX_MS = 2000;
const RECONNECT = { retries: 1000, minDelayMs: 50, maxDelayMs: 200 };
/** Margin over each bound for scheduling on a shared machine (ms). */
const BOUND_SLACK_MS = 1000;
/** Bound of an answer that needs no timer: the kernel's FIN/RST or the backend's own status (ms). */
const AT_ONCE_MS = 0;
/** After the backend serves again: the channel backoff, the client's reconnect delay, one login (ms). */
const RECOVERY_MS = CHANNEL_BACKOFF_MAX_MS + RECONNECT.maxDelayMs;

const instances = (port: number) => [{ id: `b-${port}`, endpoints: [`grpc://127.0.0.1:${port}`] }];

async function faultStack(t: TestContext, playerPort: number, roomPort = playerPort): Promise<Stack> {
  const s = await startStack({
    noBackend: true,
    config: {
      discovery: { static: { 'roma.player.service': instances(playerPort), 'roma.room.service': instances(roomPort) } },
      tunnel: { keepaliveMs: KEEPALIVE_MS, keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS },
      timeouts: { tunnelConnectMs: TUNNEL_CONNECT_MS, shutdownMs: 2000 },
    },
  });
  t.after(() => s.stop());
  return s;
}

async function client(t: TestContext, s: Stack, transport: 'tcp' | 'ws', uid: number): Promise<JanusClient> {
  const c = await JanusClient.connect({
    transport,
    host: '127.0.0.1',
    port: transport === 'tcp' ? s.gw.tcpPort : s.gw.wsPort,
    token: await s.token(uid),
    clientKeyPem: s.keys.clientKeyPem,
    serverKeys: { 1: s.keys.serverPubPem },
    requestTimeoutMs: 3000,
    connectTimeoutMs: 3000,
    reconnect: RECONNECT,
  });
  t.after(() => c.close());
  return c;
}

/** Resolves with the ms from `t0` to the client's first 'reconnecting' and the reason it gives. */
async function dropped(c: JanusClient, t0: () => number, withinMs: number): Promise<{ ms: number; reason: CloseReason }> {
  const ev = await eventWithin(c, 'reconnecting', withinMs + BOUND_SLACK_MS);
  return { ms: performance.now() - t0(), reason: ev.reason };
}

/** Asserts `d` is ServerLogout Waiting within `boundMs`. */
function assertWaiting(t: TestContext, d: { ms: number; reason: CloseReason }, boundMs: number, what: string): void {
  t.diagnostic(`${what}: ServerLogout after ${Math.round(d.ms)} ms (bound ${boundMs} ms)`);
  assert.deepEqual(d.reason.kind === 'logout' ? d.reason.code : d.reason, Code.Waiting, `${what}: ServerLogout Waiting`);
  assert.ok(d.ms <= boundMs + BOUND_SLACK_MS, `${what}: answered after ${Math.round(d.ms)} ms, bound ${boundMs} ms`);
}

/** The client is back by itself ('reconnect') within RECOVERY_MS and echoes. */
async function recovers(t: TestContext, c: JanusClient, what: string): Promise<void> {
  const t0 = performance.now();
  await eventWithin(c, 'reconnect', RECOVERY_MS + BOUND_SLACK_MS);
  t.diagnostic(`${what}: reconnected ${Math.round(performance.now() - t0)} ms after the backend served again`);
  assert.equal(str((await c.request(3, 1, text(what))).data), what);
}

describe('backend faults (docs/reliability.md "Backend faults")', () => {
  it('player backend killed mid-stream (SIGKILL): ServerLogout Waiting at once; clients are back once it runs again on its port', async (t) => {
    const b = await BackendProcess.start();
    t.after(() => b.stop());
    const s = await faultStack(t, b.port);
    const tcp = await client(t, s, 'tcp', 1);
    const ws = await client(t, s, 'ws', 2);
    // Streams in use: the player stream and a room stream each, replies flowing.
    for (const c of [tcp, ws]) {
      await c.request(4, 1, text('{}'), { obj: 7n });
      await c.request(3, 1, text('before'));
    }
    let t0 = 0;
    const drops = [dropped(tcp, () => t0, AT_ONCE_MS), dropped(ws, () => t0, AT_ONCE_MS)];
    t0 = performance.now();
    await b.kill();
    for (const [i, d] of (await Promise.all(drops)).entries()) assertWaiting(t, d, AT_ONCE_MS, ['tcp', 'ws'][i]!);

    const again = await BackendProcess.start(b.port);
    t.after(() => again.stop());
    await Promise.all([recovers(t, tcp, 'tcp is back'), recovers(t, ws, 'ws is back')]);
    assert.equal((await tcp.request(4, 1, text('{}'), { obj: 7n })).mod, 4, 'a new room stream opens');
  });

  it('room backend killed mid-stream: ServerUnexpectedErr index 0 at once, the session stays; room requests fail with their index until it runs again', async (t) => {
    const player = await startDemoBackend({ host: '127.0.0.1', port: 0 });
    t.after(() => player.destroy());
    const room = await BackendProcess.start();
    t.after(() => room.stop());
    const s = await faultStack(t, player.port, room.port);
    const c = await client(t, s, 'tcp', 3);
    await c.request(4, 1, text('{"name":"a"}'), { obj: 7n });
    let reconnected = false;
    c.on('reconnect', () => (reconnected = true));

    const serverError = eventWithin(c, 'serverError', AT_ONCE_MS + BOUND_SLACK_MS);
    const t0 = performance.now();
    await room.kill();
    const e = await serverError;
    assert.deepEqual([e.mod, e.seq], [4, 1], 'mod and seq of the last request on the stream');
    assert.ok(performance.now() - t0 <= AT_ONCE_MS + BOUND_SLACK_MS);
    assert.equal(str((await c.request(3, 1, text('player still here'))).data), 'player still here');
    await assert.rejects(c.request(4, 3, text('{"text":"hi"}'), { obj: 7n }), (err: unknown) => {
      assert.ok(isJanusError(err, ErrorCode.ServerUnexpected));
      assert.deepEqual([err.details.mod, err.details.seq], [4, 3]);
      return true;
    });

    // Back on its port: room requests succeed again by themselves (each failure is answered at once).
    const again = await BackendProcess.start(room.port);
    t.after(() => again.stop());
    const t1 = performance.now();
    for (;;) {
      assert.ok(performance.now() - t1 <= RECOVERY_MS + BOUND_SLACK_MS, 'room requests served again within the bound');
      try {
        const r = await c.request(4, 1, text('{"name":"a"}'), { obj: 7n });
        assert.equal(JSON.parse(str(r.data)).room, 7);
        break;
      } catch (err) {
        assert.ok(isJanusError(err, ErrorCode.ServerUnexpected), String(err));
      }
    }
    assert.equal(reconnected, false, 'the same session throughout');
  });

  it('player backend frozen (SIGSTOP): keepalive ends the sessions within keepaliveMs + keepaliveTimeoutMs, logins meanwhile within tunnelConnectMs; SIGCONT brings clients back', async (t) => {
    const b = await BackendProcess.start();
    t.after(() => b.stop()); // SIGCONT, then SIGKILL
    const s = await faultStack(t, b.port);
    const tcp = await client(t, s, 'tcp', 4);
    const ws = await client(t, s, 'ws', 5);
    let t0 = 0;
    const drops = [dropped(tcp, () => t0, KEEPALIVE_MS + KEEPALIVE_TIMEOUT_MS), dropped(ws, () => t0, KEEPALIVE_MS + KEEPALIVE_TIMEOUT_MS)];
    t0 = performance.now();
    b.freeze();
    for (const [i, d] of (await Promise.all(drops)).entries()) assertWaiting(t, d, KEEPALIVE_MS + KEEPALIVE_TIMEOUT_MS, ['tcp', 'ws'][i]!);

    // The kernel still accepts its TCP connections: a login waits for HTTP/2 SETTINGS that never come.
    const t1 = performance.now();
    const login = await tryLogin(s, 'tcp', 40);
    assert.equal(login.logout, Code.Waiting);
    assert.ok(performance.now() - t1 <= TUNNEL_CONNECT_MS + BOUND_SLACK_MS, `login answered after ${Math.round(performance.now() - t1)} ms`);

    b.thaw();
    await Promise.all([recovers(t, tcp, 'thawed tcp'), recovers(t, ws, 'thawed ws')]);
  });

  it('a listener that accepts TCP and never answers takes the port: logins get Waiting within tunnelConnectMs; clients are back once a backend serves there', async (t) => {
    const b = await BackendProcess.start();
    t.after(() => b.stop());
    const s = await faultStack(t, b.port);
    const c = await client(t, s, 'tcp', 6);
    const drop = dropped(c, () => t0, AT_ONCE_MS);
    let t0 = performance.now();
    await b.kill();
    const mute = await MuteBackend.start(b.port);
    t.after(() => mute.close());
    assertWaiting(t, await drop, AT_ONCE_MS, 'kill');

    // The client keeps retrying; every attempt that reaches the mute listener is answered in time.
    const accepted = mute.acceptedCount;
    t0 = performance.now();
    const login = await tryLogin(s, 'ws', 60);
    assert.equal(login.logout, Code.Waiting);
    assert.ok(performance.now() - t0 <= TUNNEL_CONNECT_MS + BOUND_SLACK_MS, `login answered after ${Math.round(performance.now() - t0)} ms`);
    await mute.acceptedAtLeast(accepted + 1);

    mute.stopListening(); // its connections stay open, as a hung process's would
    const again = await BackendProcess.start(b.port);
    t.after(() => again.stop());
    await recovers(t, c, 'back from the mute listener');
  });

  it('player backend restarted on the same port (SIGTERM): ServerLogout Waiting at once; clients are back once it listens again', async (t) => {
    const b = await BackendProcess.start();
    t.after(() => b.stop());
    const s = await faultStack(t, b.port);
    const tcp = await client(t, s, 'tcp', 8);
    const ws = await client(t, s, 'ws', 9);
    let t0 = 0;
    const drops = [dropped(tcp, () => t0, AT_ONCE_MS), dropped(ws, () => t0, AT_ONCE_MS)];
    t0 = performance.now();
    const exited = b.terminate();
    for (const [i, d] of (await Promise.all(drops)).entries()) assertWaiting(t, d, AT_ONCE_MS, ['tcp', 'ws'][i]!);
    await exited;
    const again = await BackendProcess.start(b.port);
    t.after(() => again.stop());
    await Promise.all([recovers(t, tcp, 'restarted tcp'), recovers(t, ws, 'restarted ws')]);
  });
});
