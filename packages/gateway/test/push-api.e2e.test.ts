/**
 * The push API of one gateway (PROTOCOL.md 11) on real sockets: the gRPC PushService on
 * listen.grpc (through the backend SDK's GatewayPushClient and a raw grpc-js client) and the
 * HTTP JSON routes under /v1/push/... on the management server.
 */
import { strict as assert } from 'node:assert';
import { describe, it, type TestContext } from 'node:test';
import { inflateSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import {
  decodeMessage,
  encodeMessage,
  KickRequestSchema,
  PushRequestSchema,
  PushResponseSchema,
  SCServerLogout_Code as Code,
  SCServerLogoutSchema,
  utf8,
} from '@janus/protocol';
import { GatewayPushClient } from '@janus/backend';
import { MemoryRouteTable, type RouteTable } from '../src/index.js';
import { MAX_PUSH_HTTP_BODY_BYTES } from '../src/push/http-routes.js';
import { mgmt } from './support/management.js';
import { RawClient } from './support/raw-client.js';
import { expectPush, loggedIn, str } from './support/session.js';
import { startStack, type Stack, type StackOptions } from './support/stack.js';

const ADMIN_TOKEN = 'push-admin-token-0123456789';

async function stack(t: TestContext, o: StackOptions = {}): Promise<Stack> {
  const s = await startStack(o);
  t.after(() => s.stop());
  return s;
}

function client(t: TestContext, s: Stack): GatewayPushClient {
  const c = new GatewayPushClient(`127.0.0.1:${s.gw.grpcPort}`);
  t.after(() => c.close());
  return c;
}

/** {@link loggedIn} on TCP, closed after the test. */
async function login(t: TestContext, s: Stack, uid: number, o: { color?: string; serverId?: bigint } = {}): Promise<RawClient> {
  const c = await loggedIn(s, 'tcp', uid, o);
  t.after(() => c.close());
  return c;
}

/** Asserts the next Packet is ServerLogout `code` and the connection then ends with FIN. */
async function expectKicked(c: RawClient, code: Code): Promise<void> {
  const p = await c.nextPacket();
  assert.deepEqual([p?.mod, p?.seq, p?.index], [1, 4, 0], 'expected ServerLogout');
  assert.equal(decodeMessage(SCServerLogoutSchema, p!.data).code, code);
  assert.deepEqual(await c.ending, { fin: true });
}

/** A heartbeat round trip: every push sent before it has been read by then. */
async function nothingPending(c: RawClient): Promise<void> {
  const hb = c.sendHeartbeat(BigInt(Math.floor(Date.now() / 1000)));
  const p = await c.nextPacket();
  assert.deepEqual([p?.mod, p?.seq, p?.index], [1, 2, hb.index], 'expected the heartbeat reply and no push before it');
}

/** A raw unary call: the request bytes as given; resolves the response bytes or the status error. */
function rawCall(s: Stack, method: string, bytes: Uint8Array): Promise<{ ok: Buffer } | { code: number; details: string }> {
  const c = new grpc.Client(`127.0.0.1:${s.gw.grpcPort}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(bytes),
      (err, res) => {
        c.close();
        resolve(err ? { code: err.code, details: err.details } : { ok: res! });
      },
    );
  });
}

const body = (seq: number, text: string) => ({ mod: 3, seq, data: utf8(text) });

describe('gRPC PushService (backend SDK GatewayPushClient)', () => {
  it('Push reaches the uid\'s session and answers pushed; a uid not here answers false', async (t) => {
    const s = await stack(t);
    const c = await login(t, s, 101);
    const push = client(t, s);
    assert.equal(await push.push(101n, [body(10, 'one'), body(11, 'two')]), true);
    await expectPush(c, 10, 'one');
    await expectPush(c, 11, 'two');
    assert.equal(await push.push(999n, [body(10, 'nobody')]), false);
    await nothingPending(c);
  });

  it('Multicast answers the uids that got it, each once', async (t) => {
    const s = await stack(t);
    const a = await login(t, s, 201);
    const b = await login(t, s, 202);
    const push = client(t, s);
    const got = await push.multicast([201n, 203n, 202n, 201n], [body(12, 'many')]);
    assert.deepEqual([...got].sort(), [201n, 202n]);
    await expectPush(a, 12, 'many');
    await expectPush(b, 12, 'many');
    await nothingPending(a);
  });

  it('Broadcast filters by color and sid; empty color and sid 0 reach everyone', async (t) => {
    const s = await stack(t, { colors: ['blue', 'green'] });
    const blue1 = await login(t, s, 301, { color: 'blue', serverId: 1n });
    const blue2 = await login(t, s, 302, { color: 'blue', serverId: 2n });
    const green1 = await login(t, s, 303, { color: 'green', serverId: 1n });
    const push = client(t, s);
    assert.equal(await push.broadcast([body(13, 'blue')], { color: 'blue' }), 2);
    await expectPush(blue1, 13, 'blue');
    await expectPush(blue2, 13, 'blue');
    assert.equal(await push.broadcast([body(14, 'sid 1')], { sid: 1n }), 2);
    await expectPush(blue1, 14, 'sid 1');
    await expectPush(green1, 14, 'sid 1');
    assert.equal(await push.broadcast([body(15, 'blue sid 2')], { color: 'blue', sid: 2n }), 1);
    await expectPush(blue2, 15, 'blue sid 2');
    assert.equal(await push.broadcast([body(16, 'all')]), 3);
    for (const c of [blue1, blue2, green1]) await expectPush(c, 16, 'all');
    assert.equal(await push.broadcast([body(17, 'none')], { color: 'red' }), 0);
    // Nothing else arrived: the green session got only the sid-1 and the all broadcasts.
    for (const c of [blue1, blue2, green1]) await nothingPending(c);
  });

  it('Kick ends the session with exactly the ServerLogout code given; a uid not here answers false', async (t) => {
    const s = await stack(t);
    const a = await login(t, s, 401);
    const b = await login(t, s, 402);
    const push = client(t, s);
    assert.equal(await push.kick(401n, Code.Banned), true);
    await expectKicked(a, Code.Banned);
    assert.equal(await push.kick(402n), true);
    await expectKicked(b, Code.AdminKickOut);
    assert.equal(await push.kick(401n), false);
  });

  it('a push never reaches a session before its SCAuth', async (t) => {
    // The login stops at its gateway-table write until the test releases it.
    const inner = new MemoryRouteTable();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const writing = new Promise<void>((r) => (reached = r));
    const table: RouteTable = {
      get: (k) => inner.get(k),
      getMany: (ks) => inner.getMany(ks),
      setNX: (k, v, ttl) => inner.setNX(k, v, ttl),
      async set(k, v, ttl) {
        if (k.endsWith('_501')) {
          reached();
          await held;
        }
        return inner.set(k, v, ttl);
      },
      renewIfEquals: (k, v, ttl) => inner.renewIfEquals(k, v, ttl),
      deleteIfEquals: (k, v) => inner.deleteIfEquals(k, v),
      close: () => inner.close(),
    };
    const s = await stack(t, { routeTable: table });
    t.after(() => release());
    const push = client(t, s);
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    t.after(() => c.close());
    await c.handshake(s.keys.clientKey, s.keys.pins);
    const auth = c.sendAuth(await s.token(501));
    await writing;
    assert.equal(s.gw.sessions.get(501n)?.stats().state, 'authenticating');
    assert.equal(await push.push(501n, [body(20, 'early')]), false, 'not pushed before SCAuth');
    assert.deepEqual(await push.multicast([501n], [body(20, 'early')]), []);
    assert.equal(await push.broadcast([body(20, 'early')]), 0);
    release();
    const first = await c.nextPacket();
    assert.deepEqual([first?.mod, first?.seq, first?.index], [1, 5, auth.index], 'SCAuth comes first');
    assert.equal(await push.push(501n, [body(21, 'late')]), true);
    await expectPush(c, 21, 'late');
  });

  it('bad requests are answered INVALID_ARGUMENT, unknown methods UNIMPLEMENTED; the server stays up', async (t) => {
    const s = await stack(t);
    const c = await login(t, s, 601);
    const push = client(t, s);
    const invalid = (e: unknown) => (e as grpc.ServiceError).code === grpc.status.INVALID_ARGUMENT;
    await assert.rejects(push.push(0n, [body(1, 'x')]), invalid, 'uid 0');
    await assert.rejects(push.push(-5n, [body(1, 'x')]), invalid, 'negative uid');
    await assert.rejects(push.push(601n, []), invalid, 'no bodies');
    await assert.rejects(push.multicast([601n, 0n], [body(1, 'x')]), invalid, 'a uid 0 in the list');
    await assert.rejects(push.broadcast([body(1, 'x')], { sid: -1n }), invalid, 'negative sid');
    await assert.rejects(push.kick(0n), invalid, 'kick uid 0');
    const path = '/gate.service.push.v1.PushService/';
    // What the SDK refuses before calling, sent raw: a body of mod 1, a kick code that is no SCServerLogout code, bytes that are no message.
    const mod1 = await rawCall(s, `${path}Push`, encodeMessage(PushRequestSchema, { uid: 601n, bodies: [{ mod: 1, seq: 4 }] }));
    assert.equal('code' in mod1 && mod1.code, grpc.status.INVALID_ARGUMENT);
    assert.match('code' in mod1 ? mod1.details : '', /mod 1/);
    const badCode = await rawCall(s, `${path}Kick`, encodeMessage(KickRequestSchema, { uid: 601n, code: 99 }));
    assert.equal('code' in badCode && badCode.code, grpc.status.INVALID_ARGUMENT);
    assert.match('code' in badCode ? badCode.details : '', /kick code 99/);
    const garbage = await rawCall(s, `${path}Push`, new Uint8Array([0xff, 0xff, 0xff]));
    assert.equal('code' in garbage && garbage.code, grpc.status.INVALID_ARGUMENT);
    const unknown = await rawCall(s, `${path}Teleport`, new Uint8Array(0));
    assert.equal('code' in unknown && unknown.code, grpc.status.UNIMPLEMENTED);
    const otherService = await rawCall(s, '/player.intra.v1.TunnelService/Tunnel', new Uint8Array(0));
    assert.equal('code' in otherService && otherService.code, grpc.status.UNIMPLEMENTED);
    // None of it reached or ended the session; a good raw call is answered OK.
    const ok = await rawCall(s, `${path}Push`, encodeMessage(PushRequestSchema, { uid: 601n, bodies: [{ mod: 3, seq: 30, data: utf8('raw') }] }));
    assert.ok('ok' in ok, JSON.stringify(ok));
    assert.equal(decodeMessage(PushResponseSchema, ok.ok).pushed, true);
    await expectPush(c, 30, 'raw');
  });

  it('the bound listen.grpc port is the gateway\'s advertised address', async (t) => {
    const s = await stack(t);
    assert.notEqual(s.gw.grpcPort, 0);
    assert.equal(s.gw.gateAddress, `127.0.0.1:${s.gw.grpcPort}`);
    // The SDK client by the gateway table value.
    const c = await loggedIn(s, 'tcp', 701);
    t.after(() => c.close());
    const push = new GatewayPushClient(s.gw.gateAddress);
    t.after(() => push.close());
    assert.equal(await push.push(701n, [body(31, 'by address')]), true);
    await expectPush(c, 31, 'by address');
  });
});

describe('HTTP push routes on the management server', () => {
  const post = (s: Stack, route: string, json: unknown, token?: string) =>
    mgmt(s, `/v1/push/${route}`, { method: 'POST', body: JSON.stringify(json), ...(token !== undefined ? { token } : {}) });

  it('push, multicast, broadcast and kick with the admin token; int64 as strings or numbers, data as base64', async (t) => {
    const s = await stack(t, { colors: ['blue', 'green'], config: { management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN } } });
    const a = await login(t, s, 801, { color: 'blue', serverId: 3n });
    const b = await login(t, s, 802, { color: 'green', serverId: 3n });
    const b64 = (text: string) => Buffer.from(text).toString('base64');

    let r = await post(s, 'push', { uid: '801', bodies: [{ mod: 3, seq: 40, data: b64('http push'), dataVersion: '7', obj: '801' }] }, ADMIN_TOKEN);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json(), { pushed: true });
    const p = await a.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index, p?.obj, p?.dataVersion, str(p?.data)], [3, 40, 0, 801n, 7n, 'http push']);

    r = await post(s, 'push', { uid: 900, bodies: [{ mod: 3, seq: 40, data: b64('x') }] }, ADMIN_TOKEN);
    assert.deepEqual([r.status, r.json()], [200, { pushed: false }]);

    r = await post(s, 'multicast', { uids: [801, '802', '803'], bodies: [{ mod: 3, seq: 41, data: b64('both') }] }, ADMIN_TOKEN);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json(), { pushedUids: ['801', '802'] });
    await expectPush(a, 41, 'both');
    await expectPush(b, 41, 'both');

    r = await post(s, 'broadcast', { color: 'green', sid: '3', bodies: [{ mod: 3, seq: 42, data: b64('green') }] }, ADMIN_TOKEN);
    assert.deepEqual([r.status, r.json()], [200, { count: '1' }]);
    await expectPush(b, 42, 'green');
    r = await post(s, 'broadcast', { bodies: [{ mod: 3, seq: 43, data: b64('all') }] }, ADMIN_TOKEN);
    assert.deepEqual([r.status, r.json()], [200, { count: '2' }]);
    await expectPush(a, 43, 'all');
    await expectPush(b, 43, 'all');
    await nothingPending(a);

    r = await post(s, 'kick', { uid: '802', code: Code.AdminKickOut }, ADMIN_TOKEN);
    assert.deepEqual([r.status, r.json()], [200, { kicked: true }]);
    await expectKicked(b, Code.AdminKickOut);
    r = await post(s, 'kick', { uid: 801, code: Code.Banned }, ADMIN_TOKEN);
    assert.deepEqual([r.status, r.json()], [200, { kicked: true }]);
    await expectKicked(a, Code.Banned);
    r = await post(s, 'kick', { uid: 801, code: Code.Banned }, ADMIN_TOKEN);
    assert.deepEqual([r.status, r.json()], [200, { kicked: false }]);
  });

  it('a compressible push over limits.maxInflateBytes is dropped for the client, which stays connected; one at the limit arrives deflated', async (t) => {
    const s = await stack(t, { config: { management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN } } });
    const a = await login(t, s, 871);
    const limit = s.gw.config.limits.maxInflateBytes;
    // Deflated, 3 MiB of 'x' fits maxFrameBytes, but the client would close on inflating it (PROTOCOL.md 8).
    const huge = Buffer.alloc(3 * 1024 * 1024, 'x');
    assert.ok(huge.length > limit);
    const m = s.gw.metrics;
    const [tooLarge0, attempted0, delivered0] = [m.errors.reply_too_large.n, m.pushesAttempted.n, m.pushesDelivered.n];
    const r = await post(s, 'push', { uid: '871', bodies: [{ mod: 3, seq: 47, data: huge.toString('base64') }] }, ADMIN_TOKEN);
    // As for a push over maxFrameBytes: the session is open and took it (docs/operations.md "Push API").
    assert.deepEqual([r.status, r.json()], [200, { pushed: true }]);
    await nothingPending(a);
    assert.deepEqual(
      [m.errors.reply_too_large.n - tooLarge0, m.pushesAttempted.n - attempted0, m.pushesDelivered.n - delivered0],
      [1, 1, 0],
      'counted as too large, attempted, not delivered',
    );

    const atLimit = Buffer.alloc(limit, 'y');
    const ok = await post(s, 'push', { uid: '871', bodies: [{ mod: 3, seq: 48, data: atLimit.toString('base64') }] }, ADMIN_TOKEN);
    assert.deepEqual([ok.status, ok.json()], [200, { pushed: true }]);
    const p = await a.nextPacket();
    assert.deepEqual([p?.mod, p?.seq, p?.index, p?.compress], [3, 48, 0, true]);
    assert.ok(inflateSync(p!.data, { maxOutputLength: limit }).equals(atLimit), 'inflates to the data within the limit');
    assert.equal(m.pushesDelivered.n - delivered0, 1);
  });

  it('refuses without the right bearer token (401) and answers bad bodies 400', async (t) => {
    const s = await stack(t, { config: { management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN } } });
    const a = await login(t, s, 851);
    const json = { uid: '851', bodies: [{ mod: 3, seq: 44, data: Buffer.from('no').toString('base64') }] };
    for (const route of ['push', 'multicast', 'broadcast', 'kick']) {
      const none = await post(s, route, json);
      assert.equal(none.status, 401, route);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="janus"');
      assert.equal((await post(s, route, json, 'wrong-token-0123456789')).status, 401, route);
    }
    const bad = async (route: string, body: unknown, pattern: RegExp) => {
      const r = await post(s, route, body, ADMIN_TOKEN);
      assert.equal(r.status, 400, `${route} ${JSON.stringify(body)}: ${r.body}`);
      const e = (r.json() as { error: { code: string; message: string } }).error;
      assert.equal(e.code, 'JANUS_ERR_ARG_INVALID');
      assert.match(e.message, pattern);
    };
    await bad('push', { uid: '0', bodies: json.bodies }, /uid above 0/);
    await bad('push', { uid: '851', bodies: [] }, /at least one PushBody/);
    await bad('push', { uid: '851', bodies: [{ mod: 1, seq: 4 }] }, /mod 1/);
    await bad('push', { uid: 'abc', bodies: json.bodies }, /not a gate\.service\.push\.v1\.PushRequest in JSON/);
    await bad('push', { uid: '851', nope: 1 }, /not a gate\.service\.push\.v1\.PushRequest in JSON/);
    await bad('kick', { uid: '851', code: 99 }, /kick code 99/);
    const notJson = await mgmt(s, '/v1/push/push', { method: 'POST', body: '{', token: ADMIN_TOKEN });
    assert.equal(notJson.status, 400);
    assert.equal((await mgmt(s, '/v1/push/push', { token: ADMIN_TOKEN })).status, 405);
    assert.equal((await post(s, 'teleport', json, ADMIN_TOKEN)).status, 404);
    // Nothing of it reached the session.
    await nothingPending(a);
  });

  it('answers a body over 6 MiB 400 JANUS_ERR_ARG_INVALID with Connection: close (read by the client, no reset), and serves the next request', async (t) => {
    const s = await stack(t, { config: { management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN } } });
    const a = await login(t, s, 871);
    const data = Buffer.alloc(MAX_PUSH_HTTP_BODY_BYTES).toString('base64'); // 8 MiB of base64
    const big = JSON.stringify({ uid: '871', bodies: [{ mod: 3, seq: 47, data }] });
    assert.ok(big.length > MAX_PUSH_HTTP_BODY_BYTES);
    const r = await mgmt(s, '/v1/push/push', { method: 'POST', body: big, token: ADMIN_TOKEN });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.headers.connection, 'close');
    const e = (r.json() as { error: { code: string; message: string } }).error;
    assert.deepEqual([e.code, e.message], ['JANUS_ERR_ARG_INVALID', `request body over ${MAX_PUSH_HTTP_BODY_BYTES} bytes`]);
    await nothingPending(a);
    const ok = await post(s, 'push', { uid: '871', bodies: [{ mod: 3, seq: 48, data: Buffer.from('small').toString('base64') }] }, ADMIN_TOKEN);
    assert.deepEqual([ok.status, ok.json()], [200, { pushed: true }]);
    await expectPush(a, 48, 'small');
  });

  it('is off (404) when no admin token is configured, while the gRPC service still serves', async (t) => {
    const s = await stack(t);
    const a = await login(t, s, 861);
    const json = { uid: '861', bodies: [{ mod: 3, seq: 45, data: Buffer.from('no').toString('base64') }] };
    for (const route of ['push', 'multicast', 'broadcast', 'kick']) {
      const r = await post(s, route, json);
      assert.equal(r.status, 404, route);
      assert.equal((await post(s, route, json, 'any-token-0123456789')).status, 404, route);
    }
    await nothingPending(a);
    assert.equal(await client(t, s).push(861n, [body(46, 'grpc')]), true);
    await expectPush(a, 46, 'grpc');
  });
});
