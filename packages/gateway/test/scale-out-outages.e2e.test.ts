/**
 * Faults under the "scale out" layout (two gateways on one real etcd and one real
 * redis-server, backends registered through registerService; support/scale-out.ts): a
 * backend instance SIGKILLed (its lease expires, new logins on both gateways route to the
 * survivor), Redis killed and restarted, and etcd killed and restarted under both gateways.
 * Both gateways recover by themselves, and no session that was open is dropped: each keeps
 * round-tripping and gets no ServerLogout and no close. The happy paths are in
 * scale-out.e2e.test.ts.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { gateRouteKey, routeKey, SCServerLogout_Code as Code, utf8 } from '@janus/protocol';
import { ClusterPusher } from '@janus/backend';
import { closeRedis, connectRedis, createRedisClient } from '@janus/redis';
import { spawnRegisteredBackend } from './support/etcd-backend.js';
import { mgmt } from './support/management.js';
import { RawClient } from './support/raw-client.js';
import { ADMIN_TOKEN, PLAYER, served, SHORT_LEASE_S, scaleOutPerFile, watchOpen, type ScaleOut } from './support/scale-out.js';
import { expectPush } from './support/session.js';
import type { Stack } from './support/stack.js';

/** Open sessions, each with its watch and the instance it was served by. */
interface Tracked {
  conn: RawClient;
  watch: { readonly ended: boolean };
  instance: string;
  uid: number;
}

describe('scale out: faults under two gateways on etcd and Redis', { timeout: 60_000 }, () => {
  let c: ScaleOut;
  let a: Stack, b: Stack;
  scaleOutPerFile((s) => {
    c = s;
    ({ a, b } = s);
  });

  /** Logs each uid in, alternately on A and B, and records which instance serves it. */
  async function track(uids: number[]): Promise<Tracked[]> {
    const out: Tracked[] = [];
    for (const [i, uid] of uids.entries()) {
      const conn = await c.login(i % 2 === 0 ? a : b, uid, { kind: i % 3 === 2 ? 'ws' : 'tcp' });
      out.push({ conn, watch: watchOpen(conn), instance: await served(conn), uid });
    }
    return out;
  }

  /** Every tracked session still answers on its instance, and none has ended. */
  async function stillOpen(sessions: Tracked[], text: string): Promise<void> {
    for (const s of sessions) {
      // served() reads the next Packet: a ServerLogout before the reply fails it.
      assert.equal(await served(s.conn, text), s.instance, `uid ${s.uid}: ${text}`);
      assert.equal(s.watch.ended, false, `uid ${s.uid} was not dropped`);
    }
  }

  /** Sends CSAuth for `uid` on `gw` and returns the ServerLogout code answering it. */
  async function refusedLogin(gw: Stack, uid: number): Promise<number | null> {
    const r = c.own(await RawClient.connect('tcp', gw.gw.tcpPort));
    await r.handshake(gw.keys.clientKey, gw.keys.pins);
    r.sendAuth(await gw.token(uid));
    return r.expectLogout();
  }

  it('a SIGKILLed backend instance: its lease expires, both gateways drop it, and new logins on either route to the survivor', async () => {
    const survivor = await c.addPlayer('violet-survivor', 'violet');
    const doomed = await spawnRegisteredBackend(c.as('violet-doomed', 'violet', SHORT_LEASE_S));
    try {
      await c.playersSeen('violet', 2);
      // Each gateway balances on its own (smooth weighted round robin): two logins on each
      // put one uid of each gateway on each instance.
      const byUid = new Map<number, RawClient>();
      for (const uid of [5001, 5002, 5003, 5004]) byUid.set(uid, await c.login(uid <= 5002 ? a : b, uid, { color: 'violet' }));
      const at = async (uid: number): Promise<string | null> => c.backendRedis.get(routeKey(PLAYER, 'violet', BigInt(uid)));
      const onDoomed: number[] = [];
      for (const uid of byUid.keys()) if ((await at(uid)) === doomed.address) onDoomed.push(uid);
      assert.equal(onDoomed.length, 2, 'two of the four logins went to the doomed instance');
      assert.ok(onDoomed.some((u) => u <= 5002) && onDoomed.some((u) => u > 5002), 'one through each gateway');
      const onSurvivor = [...byUid.keys()].filter((u) => !onDoomed.includes(u));

      await doomed.kill();
      // Its sessions' player streams broke: those end with Waiting; the others are untouched.
      for (const uid of onDoomed) assert.equal(await byUid.get(uid)!.expectLogout(), Code.Waiting, `uid ${uid}`);
      for (const uid of onSurvivor) assert.equal(await served(byUid.get(uid)!, 'still here'), 'violet-survivor');
      // No deregistration: the key goes when its 2 s lease expires, and both gateways see it go.
      await c.playersSeen('violet', 1);
      for (const g of [a, b]) assert.deepEqual(g.gw.discovery.instances(PLAYER).filter((i) => i.color === 'violet').map((i) => i.id), ['violet-survivor']);

      for (const uid of [5011, 5012, 5013, 5014]) {
        const conn = await c.login(uid % 2 === 0 ? a : b, uid, { color: 'violet' });
        assert.equal(await served(conn), 'violet-survivor', `uid ${uid}`);
        assert.equal(await at(uid), survivor.address);
      }
      // The users of the dead instance come back, on the other gateway: the stale sticky entry is replaced.
      for (const uid of onDoomed) {
        const conn = await c.login(uid <= 5002 ? b : a, uid, { color: 'violet' });
        assert.equal(await served(conn, 'moved'), 'violet-survivor');
        assert.equal(await at(uid), survivor.address);
      }
    } finally {
      await doomed.kill();
    }
  });

  it('Redis killed and restarted: both gateways keep every open session, refuse new logins meanwhile, and recover without a restart', async () => {
    const sessions = await track([6001, 6002, 6003, 6004]);
    const recovered = [c.a, c.b].flatMap((g) => [new Promise<void>((r) => g.stores.routeTable.onRecovered(r)), new Promise<void>((r) => g.stores.pushBus.onRecovered(r))]);

    await c.redis.kill();
    await stillOpen(sessions, 'Redis is down');
    // A new login needs the gateway table: ServerLogout Waiting at once, on either gateway.
    assert.equal(await refusedLogin(a, 6101), Code.Waiting);
    assert.equal(await refusedLogin(b, 6102), Code.Waiting);
    // The HTTP push to a user held elsewhere needs the gateway table: 503; one held here is still served.
    const post = (gw: Stack, route: string, json: unknown) => mgmt(gw, `/v1/push/${route}`, { method: 'POST', body: JSON.stringify(json), token: ADMIN_TOKEN });
    const data = Buffer.from('during').toString('base64');
    const elsewhere = await post(a, 'push', { uid: '6002', bodies: [{ mod: 3, seq: 60, data }] });
    assert.equal(elsewhere.status, 503, elsewhere.body);
    assert.equal((elsewhere.json() as { error: { code: string } }).error.code, 'JANUS_ERR_ROUTE_TABLE_UNAVAILABLE');
    assert.deepEqual((await post(a, 'push', { uid: '6001', bodies: [{ mod: 3, seq: 60, data }] })).json(), { pushed: true });
    await expectPush(sessions[0]!.conn, 60, 'during');
    // A multicast that delivered to some uids answers them (200), not 503: a caller retrying
    // a 503 would push twice to 6001; with nothing delivered it is 503.
    const some = await post(a, 'multicast', { uids: ['6002', '6001'], bodies: [{ mod: 3, seq: 61, data }] });
    assert.deepEqual([some.status, some.json()], [200, { pushedUids: ['6001'] }], some.body);
    await expectPush(sessions[0]!.conn, 61, 'during');
    const none = await post(a, 'multicast', { uids: ['6002', '6004'], bodies: [{ mod: 3, seq: 62, data }] });
    assert.equal(none.status, 503, none.body);
    assert.equal((none.json() as { error: { code: string } }).error.code, 'JANUS_ERR_ROUTE_TABLE_UNAVAILABLE');

    await c.redis.restart();
    await Promise.all(recovered);
    await stillOpen(sessions, 'Redis is back');
    // The restarted server is empty: each gateway wrote its open sessions' entries back.
    const backend = createRedisClient({ nodes: [c.redis.address], cluster: false }, 'test-backend-after');
    try {
      await connectRedis(backend, 5000);
      for (const [i, s] of sessions.entries()) {
        assert.equal(await backend.get(gateRouteKey('', BigInt(s.uid))), (i % 2 === 0 ? a : b).gw.gateAddress, `uid ${s.uid}`);
      }
      // Pushes through the channels, across gateways over HTTP, and new logins on both work again.
      const pusher = new ClusterPusher(backend);
      assert.equal(await pusher.push(6002n, [{ mod: 3, seq: 61, data: utf8('channel back') }]), b.gw.gateAddress);
      await expectPush(sessions[1]!.conn, 61, 'channel back');
      assert.equal(await pusher.broadcast([{ mod: 3, seq: 62, data: utf8('all back') }]), 2);
      for (const s of sessions) await expectPush(s.conn, 62, 'all back');
      const r = await post(a, 'push', { uid: '6004', bodies: [{ mod: 3, seq: 63, data: Buffer.from('http back').toString('base64') }] });
      assert.deepEqual([r.status, r.json()], [200, { pushed: true }], r.body);
      await expectPush(sessions[3]!.conn, 63, 'http back');
      for (const [gw, uid] of [[a, 6103], [b, 6104]] as const) await served(await c.login(gw, uid), 'new login after Redis');
    } finally {
      closeRedis(backend);
    }
    await stillOpen(sessions, 'at the end');
    for (const s of sessions) s.conn.close();
  });

  it('etcd killed and restarted: both gateways keep every open session, log in on the cached lists, and pick up changes afterwards by themselves', async () => {
    const sessions = await track([7001, 7002, 7003, 7004]);

    await c.etcd.kill();
    await stillOpen(sessions, 'etcd is down');
    // Logins route on each gateway's last list; sticky entries in Redis still apply.
    const during = await track([7011, 7012]);
    for (const s of during) assert.ok(['p1', 'p2'].includes(s.instance), `uid ${s.uid}`);

    await c.etcd.restart();
    // Recovered: an instance registered after the restart reaches both gateways' lists.
    await c.addPlayer('p3');
    await c.playersSeen('', 3);
    for (const g of [c.a, c.b]) assert.notEqual(await c.raw.get(g.etcdKey).string(), null, `${g.gw.config.gateway.id} is still registered`);
    await stillOpen([...sessions, ...during], 'etcd is back');
    // New logins spread over the three instances again (each gateway's balancer sees p3).
    const later = await track([7021, 7022, 7023, 7024, 7025, 7026]);
    assert.ok(later.some((s) => s.instance === 'p3'), 'the new instance takes logins');
    await stillOpen([...sessions, ...during, ...later], 'at the end');
  });
});
