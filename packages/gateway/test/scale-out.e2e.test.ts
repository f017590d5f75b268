/**
 * The "scale out" layout end to end (docs/deployment.md; PROTOCOL.md 8, 10, 11): two gateways
 * on one real etcd (discovery and registration) and one real redis-server (route tables and
 * push channels) at once, in front of two player instances, a blue and a green one, and one
 * room instance, all registered through the backend SDK's registerService. Clients spread
 * over both gateways; a uid keeps its player instance across reconnects and gateways and
 * holds one login in the cluster; colors never cross; push, multicast, broadcast and kick
 * from a backend reach users on either gateway through gRPC (the gateway found in the
 * gateway table), through HTTP on a gateway the user is not on (decision 0023), and through
 * the Redis channels. The outages are in scale-out-outages.e2e.test.ts.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { GATE_DISCOVERY_NAME, gateRouteKey, routeKey, SCServerLogout_Code as Code, utf8 } from '@janus/protocol';
import { GatewayPushClient } from '@janus/backend';
import { mgmt } from './support/management.js';
import type { RawClient } from './support/raw-client.js';
import { ADMIN_TOKEN, PLAYER, served, scaleOutPerFile, type ScaleOut } from './support/scale-out.js';
import { expectPush, str } from './support/session.js';
import type { Stack } from './support/stack.js';

const body = (seq: number, text: string) => ({ mod: 3, seq, data: utf8(text) });
const b64 = (text: string): string => Buffer.from(text).toString('base64');

describe('scale out: two gateways on etcd and Redis', { timeout: 60_000 }, () => {
  let c: ScaleOut;
  let a: Stack, b: Stack;
  scaleOutPerFile((s) => {
    c = s;
    ({ a, b } = s);
  });

  const gwName = (s: Stack): string => s.gw.config.gateway.id;

  it('every backend and both gateways are registered in etcd in the Kratos layout', async () => {
    const players = await c.raw.getAll().prefix(`${c.prefix}/${PLAYER}/`).strings();
    assert.deepEqual(Object.keys(players).sort(), ['blue-1', 'green-1', 'p1', 'p2'].map((id) => `${c.prefix}/${PLAYER}/${id}`));
    assert.deepEqual(JSON.parse(players[`${c.prefix}/${PLAYER}/blue-1`]!), {
      id: 'blue-1', name: PLAYER, version: '', metadata: { color: 'blue', weight: '100' }, endpoints: [`grpc://${c.blue.address}`],
    });
    for (const g of [c.a, c.b]) {
      const v = JSON.parse((await c.raw.get(g.etcdKey).string())!) as { name: string; endpoints: string[] };
      assert.equal(v.name, GATE_DISCOVERY_NAME);
      assert.deepEqual(v.endpoints, [`grpc://${g.gw.gateAddress}`, `http://127.0.0.1:${g.gw.management!.port}`]);
    }
    assert.notEqual(a.gw.gateAddress, b.gw.gateAddress);
  });

  it('spreads clients over both gateways and both player instances; a uid keeps its instance across reconnects and gateways', async () => {
    const first = new Map<number, string>();
    const uids = [1001, 1002, 1003, 1004, 1005, 1006];
    // Connect alternately: even uids on A, odd on B, all open at once.
    const open = await Promise.all(uids.map((uid) => c.login(uid % 2 === 0 ? a : b, uid, { kind: uid % 3 === 0 ? 'ws' : 'tcp' })));
    assert.deepEqual([a.gw.sessions.size, b.gw.sessions.size], [3, 3], 'half of the clients on each gateway');
    for (const [i, uid] of uids.entries()) first.set(uid, await served(open[i]!));
    assert.deepEqual(new Set(first.values()), new Set(['p1', 'p2']), 'both player instances serve some uids');
    for (const conn of open) {
      conn.close();
      await conn.ending;
    }
    // Reconnects, on the other gateway and back: the sticky entry in Redis keeps the instance.
    for (const uid of uids) {
      for (const gw of uid % 2 === 0 ? [b, a, b] : [a, b, a]) {
        const again = await c.login(gw, uid);
        assert.equal(await served(again), first.get(uid), `uid ${uid} on ${gwName(gw)}`);
        again.close();
        await again.ending;
      }
      const entry = await c.backendRedis.get(routeKey(PLAYER, '', BigInt(uid)));
      assert.equal(entry, first.get(uid) === 'p1' ? c.p1.address : c.p2.address, 'the sticky entry names the serving instance');
    }
    assert.ok(!c.blue.opened.some((u) => uids.includes(Number(u))) && !c.green.opened.some((u) => uids.includes(Number(u))), 'no colored instance served an uncolored uid');
  });

  it('holds one login per uid in the cluster: a login on B ends the one on A (ServerLogout ConflictingLogin), on the same instance', async () => {
    const older = await c.login(a, 1101);
    const instance = await served(older);
    assert.equal(await c.backendRedis.get(gateRouteKey('', 1101n)), a.gw.gateAddress);
    const newer = await c.login(b, 1101, { kind: 'ws' });
    assert.equal(await older.expectLogout(), Code.ConflictingLogin);
    assert.deepEqual(await older.ending, { fin: true });
    assert.equal(await served(newer), instance);
    assert.equal(await c.backendRedis.get(gateRouteKey('', 1101n)), b.gw.gateAddress);
  });

  it('one room instance behind both gateways: members on A and B share a room and get its events', async () => {
    const onA = await c.login(a, 1201);
    const onB = await c.login(b, 1202);
    const join = async (cl: RawClient, name: string): Promise<unknown> => {
      const req = cl.send({ mod: 4, seq: 1, obj: 77n, data: utf8(JSON.stringify({ name })) });
      const p = await cl.nextPacket();
      assert.deepEqual([p?.mod, p?.seq, p?.index], [4, 1, req.index]);
      return JSON.parse(str(p!.data));
    };
    assert.deepEqual(await join(onA, 'ann'), { room: 77, members: [1201] });
    assert.deepEqual(await join(onB, 'bob'), { room: 77, members: [1201, 1202] });
    const event = await onA.nextPacket();
    assert.deepEqual([event?.mod, event?.seq, event?.index, JSON.parse(str(event?.data))], [4, 10, 0, { event: 'join', uid: 1202, name: 'bob' }]);
    assert.equal(await c.backendRedis.get(routeKey('roma.room.service', '', 77n)), c.room.address);
  });

  it('color isolation across both gateways: blue only ever reaches the blue instance, green the green one', async () => {
    const colored: [number, string][] = [];
    for (let uid = 1301; uid <= 1308; uid++) {
      const color = uid % 2 === 0 ? 'blue' : 'green';
      const conn = await c.login(uid % 4 < 2 ? a : b, uid, { color });
      assert.equal(await served(conn), `${color}-1`, `uid ${uid} (${color})`);
      colored.push([uid, color]);
      // And again after a reconnect on the other gateway.
      const again = await c.login(uid % 4 < 2 ? b : a, uid, { color });
      assert.equal(await conn.expectLogout(), Code.ConflictingLogin);
      assert.equal(await served(again), `${color}-1`);
    }
    const blueUids = colored.filter(([, col]) => col === 'blue').map(([u]) => BigInt(u));
    const greenUids = colored.filter(([, col]) => col === 'green').map(([u]) => BigInt(u));
    assert.deepEqual([...new Set(c.blue.opened.filter((u) => u >= 1301n && u <= 1308n))].sort(), blueUids);
    assert.deepEqual([...new Set(c.green.opened.filter((u) => u >= 1301n && u <= 1308n))].sort(), greenUids);
    for (const p of [c.p1, c.p2]) assert.ok(!p.opened.some((u) => u >= 1301n && u <= 1308n), `${p.id} served no colored uid`);
    assert.equal(await c.backendRedis.get(routeKey(PLAYER, 'blue', 1302n)), c.blue.address);
    assert.equal(await c.backendRedis.get(routeKey(PLAYER, 'green', 1301n)), c.green.address);
  });

  it('gRPC: a backend finds each uid\'s gateway in the gateway table, and push, multicast, broadcast and kick reach users on either gateway', async () => {
    const u1 = await c.login(a, 2001);
    const u2 = await c.login(b, 2002);
    const u3 = await c.login(b, 2003, { color: 'blue' });
    const clients = new Map<string, GatewayPushClient>();
    const client = (gw: string): GatewayPushClient => {
      let cl = clients.get(gw);
      if (!cl) clients.set(gw, (cl = new GatewayPushClient(gw)));
      return cl;
    };
    const via = async (uid: bigint, color = ''): Promise<GatewayPushClient> => {
      const gw = await c.pusher.gatewayOf(uid, { color });
      assert.ok(gw, `uid ${uid} is in the gateway table`);
      return client(gw);
    };
    try {
      assert.equal((await via(2001n)).address, a.gw.gateAddress);
      assert.equal((await via(2002n)).address, b.gw.gateAddress);
      assert.equal((await via(2003n, 'blue')).address, b.gw.gateAddress);
      assert.equal(await (await via(2001n)).push(2001n, [body(10, 'grpc to A')]), true);
      await expectPush(u1, 10, 'grpc to A');
      assert.equal(await (await via(2002n)).push(2002n, [body(10, 'grpc to B')]), true);
      await expectPush(u2, 10, 'grpc to B');
      // A gRPC call acts on that gateway's sessions only.
      assert.equal(await client(a.gw.gateAddress).push(2002n, [body(10, 'wrong gateway')]), false);

      // Multicast: the uids grouped by gateway, one call each.
      const byGateway = new Map<string, bigint[]>();
      for (const [uid, color] of [[2001n, ''], [2002n, ''], [2003n, 'blue']] as const) {
        const gw = (await via(uid, color)).address;
        byGateway.set(gw, [...(byGateway.get(gw) ?? []), uid]);
      }
      const pushed = (await Promise.all([...byGateway].map(([gw, uids]) => client(gw).multicast(uids, [body(11, 'multi')])))).flat();
      assert.deepEqual(pushed.sort(), [2001n, 2002n, 2003n]);
      for (const u of [u1, u2, u3]) await expectPush(u, 11, 'multi');

      // Broadcast: one call per gateway, the gateways found in etcd (their janus.gate.interface registrations).
      const gates = Object.values(await c.raw.getAll().prefix(`${c.prefix}/${GATE_DISCOVERY_NAME}/`).strings()).map(
        (v) => (JSON.parse(v) as { endpoints: string[] }).endpoints.find((e) => e.startsWith('grpc://'))!.slice('grpc://'.length),
      );
      assert.deepEqual(gates.sort(), [a.gw.gateAddress, b.gw.gateAddress].sort());
      const blueSessions = [a, b].flatMap((g) => [...g.gw.sessions.values()]).filter((s) => s.color === 'blue').length;
      assert.ok(blueSessions >= 1, 'u3 and the blue sessions of earlier tests');
      const counts = await Promise.all(gates.map((gw) => client(gw).broadcast([body(12, 'blue only')], { color: 'blue' })));
      assert.equal(counts.reduce((x, y) => x + y, 0), blueSessions);
      const all = await Promise.all(gates.map((gw) => client(gw).broadcast([body(13, 'everyone')])));
      assert.equal(all.reduce((x, y) => x + y, 0), a.gw.sessions.size + b.gw.sessions.size);
      // In order on each session: what u1 and u2 did not get before "everyone", they did not get.
      await expectPush(u3, 12, 'blue only');
      for (const u of [u1, u2, u3]) await expectPush(u, 13, 'everyone');

      assert.equal(await (await via(2002n)).kick(2002n, Code.Banned), true);
      assert.equal(await u2.expectLogout(), Code.Banned);
      assert.deepEqual(await u2.ending, { fin: true });
      await served(u1, 'u1 unaffected');
      assert.equal(await served(u3, 'u3 unaffected'), 'blue-1');
    } finally {
      for (const cl of clients.values()) cl.close();
    }
  });

  /** POSTs to a push route of `gw`'s management server; `token` null: no Authorization header. */
  const post = (gw: Stack, route: string, json: unknown, token: string | null = ADMIN_TOKEN) =>
    mgmt(gw, `/v1/push/${route}`, { method: 'POST', body: JSON.stringify(json), ...(token !== null ? { token } : {}) });

  it('HTTP /v1/push/* on the gateway a user is not on reaches that user: push, multicast, broadcast and kick (decision 0023)', async () => {
    const onA = await c.login(a, 3001);
    const onB = await c.login(b, 3002);
    const blueOnB = await c.login(b, 3003, { color: 'blue' });
    const bodies = (seq: number, text: string) => [{ mod: 3, seq, data: b64(text) }];

    let r = await post(b, 'push', { uid: '3001', bodies: bodies(20, 'B to A') });
    assert.deepEqual([r.status, r.json()], [200, { pushed: true }], r.body);
    await expectPush(onA, 20, 'B to A');
    r = await post(a, 'push', { uid: 3002, bodies: bodies(20, 'A to B') });
    assert.deepEqual([r.status, r.json()], [200, { pushed: true }], r.body);
    await expectPush(onB, 20, 'A to B');
    // A blue session: found under its color's gateway table key (the colors of the player instances).
    r = await post(a, 'push', { uid: '3003', bodies: bodies(20, 'A to blue on B') });
    assert.deepEqual([r.status, r.json()], [200, { pushed: true }], r.body);
    await expectPush(blueOnB, 20, 'A to blue on B');
    r = await post(a, 'push', { uid: '3999', bodies: bodies(20, 'nobody') });
    assert.deepEqual([r.status, r.json()], [200, { pushed: false }], 'a uid connected nowhere');
    // Held here: served from this gateway's own sessions, as before.
    r = await post(a, 'push', { uid: '3001', bodies: bodies(21, 'A to A') });
    assert.deepEqual([r.status, r.json()], [200, { pushed: true }]);
    await expectPush(onA, 21, 'A to A');

    r = await post(a, 'multicast', { uids: ['3001', '3002', '3003', '3999', '3002'], bodies: bodies(22, 'multi') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((r.json() as { pushedUids: string[] }).pushedUids.sort(), ['3001', '3002', '3003']);
    for (const u of [onA, onB, blueOnB]) await expectPush(u, 22, 'multi');

    // A broadcast goes on the broadcast channel: every gateway acts on it; count is gateways.
    r = await post(a, 'broadcast', { color: 'blue', bodies: bodies(23, 'blue everywhere') });
    assert.deepEqual([r.status, r.json()], [200, { count: '2' }], r.body);
    r = await post(b, 'broadcast', { bodies: bodies(24, 'all everywhere') });
    assert.deepEqual([r.status, r.json()], [200, { count: '2' }], r.body);
    await expectPush(blueOnB, 23, 'blue everywhere');
    for (const u of [onA, onB, blueOnB]) await expectPush(u, 24, 'all everywhere');

    r = await post(a, 'kick', { uid: '3002', code: Code.AdminKickOut });
    assert.deepEqual([r.status, r.json()], [200, { kicked: true }], r.body);
    assert.equal(await onB.expectLogout(), Code.AdminKickOut);
    assert.deepEqual(await onB.ending, { fin: true });
    r = await post(b, 'kick', { uid: 3001, code: Code.Banned });
    assert.deepEqual([r.status, r.json()], [200, { kicked: true }], r.body);
    assert.equal(await onA.expectLogout(), Code.Banned);
    r = await post(b, 'kick', { uid: '3998', code: Code.Banned });
    assert.deepEqual([r.status, r.json()], [200, { kicked: false }]);
    assert.equal(await served(blueOnB, 'still here'), 'blue-1');
  });

  it('HTTP push refuses without the right bearer token (401) on either gateway, and nothing reaches the user', async () => {
    const onA = await c.login(a, 3101);
    const onB = await c.login(b, 3102);
    const json = { uid: '3101', uids: ['3101', '3102'], bodies: [{ mod: 3, seq: 30, data: b64('refused') }] };
    for (const gw of [a, b]) {
      for (const route of ['push', 'multicast', 'broadcast', 'kick']) {
        const none = await post(gw, route, json, null);
        assert.equal(none.status, 401, `${gwName(gw)} ${route}`);
        assert.equal(none.headers['www-authenticate'], 'Bearer realm="janus"');
        assert.equal((await post(gw, route, json, 'wrong-token-0123456789')).status, 401, `${gwName(gw)} ${route}`);
      }
    }
    // The first push each session sees is this one: none of the refused calls got through.
    const allowed = await post(b, 'multicast', { uids: ['3101', '3102'], bodies: [{ mod: 3, seq: 31, data: b64('allowed') }] });
    assert.deepEqual((allowed.json() as { pushedUids: string[] }).pushedUids.sort(), ['3101', '3102']);
    await expectPush(onA, 31, 'allowed');
    await expectPush(onB, 31, 'allowed');
  });

  it('the Redis channels: ClusterPusher\'s push, multicast, broadcast and kick reach users on either gateway', async () => {
    const onA = await c.login(a, 4001);
    const onB = await c.login(b, 4002, { kind: 'ws' });
    const greenOnA = await c.login(a, 4003, { color: 'green' });
    assert.equal(await c.pusher.push(4001n, [body(40, 'to A')]), a.gw.gateAddress);
    await expectPush(onA, 40, 'to A');
    assert.equal(await c.pusher.push(4002n, [body(40, 'to B')]), b.gw.gateAddress);
    await expectPush(onB, 40, 'to B');
    assert.equal(await c.pusher.push(4003n, [body(40, 'to green')], { color: 'green' }), a.gw.gateAddress);
    await expectPush(greenOnA, 40, 'to green');
    assert.equal(await c.pusher.push(4999n, [body(40, 'nobody')]), null);
    assert.deepEqual((await c.pusher.multicast([4001n, 4002n, 4999n], [body(41, 'multi')])).sort(), [4001n, 4002n]);
    await expectPush(onA, 41, 'multi');
    await expectPush(onB, 41, 'multi');
    assert.equal(await c.pusher.broadcast([body(42, 'green')], { color: 'green' }), 2, 'both gateways subscribed');
    assert.equal(await c.pusher.broadcast([body(43, 'all')]), 2);
    await expectPush(greenOnA, 42, 'green');
    for (const u of [onA, onB, greenOnA]) await expectPush(u, 43, 'all');
    assert.equal(await c.pusher.kick(4002n, Code.AdminKickOut), b.gw.gateAddress);
    assert.equal(await onB.expectLogout(), Code.AdminKickOut);
    assert.deepEqual(await onB.ending, { wsCode: 1000 });
    assert.equal(await c.pusher.kick(4001n, Code.Banned), a.gw.gateAddress);
    assert.equal(await onA.expectLogout(), Code.Banned);
    assert.equal(await served(greenOnA, 'unaffected'), 'green-1');
  });
});
