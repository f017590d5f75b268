/**
 * Two gateways on one real redis-server (PROTOCOL.md 8, 10, 11): sticky player routing
 * across reconnects and gateways, single login across gateways, push / multicast /
 * broadcast / kick from a backend through the Redis channels (the backend SDK's
 * ClusterPusher), and a Redis kill + restart that both gateways ride out; then the same
 * paths on a Redis Cluster of three masters.
 */
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodePushMessage, gateRouteKey, routeKey, SCServerLogout_Code as Code, TUNNEL_PATHS, utf8 } from '@janus/protocol';
import { ClusterPusher, GatewayPushClient, TunnelServer } from '@janus/backend';
import { closeRedis, connectRedis, createRedisClient, openRedisAdapters, type RedisAdapters, type RedisClient } from '@janus/redis';
import type { RouteTable } from '../src/index.js';
import { RawClient } from './support/raw-client.js';
import { RedisServer, startRedisCluster, type RedisCluster } from './support/redis-server.js';
import { expectPush, str } from './support/session.js';
import { makeKeys, startStack, type Stack, type StackOptions, type TestKeys } from './support/stack.js';

/** A free port number, used as a gateway's advertised gRPC port (its identity; nothing binds it yet). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

interface Player {
  name: string;
  address: string;
  /** uids whose player stream opened here, in order. */
  opened: bigint[];
  close(): Promise<void>;
}

/**
 * A player service instance that answers mod 3 seq 1 with its own name, and a room
 * service that echoes. `holdOpen(uid)` may delay a uid's stream opening (login in flight).
 */
async function startPlayer(name: string, holdOpen?: (uid: bigint) => Promise<void>): Promise<Player> {
  const opened: bigint[] = [];
  const server = new TunnelServer()
    .addService(TUNNEL_PATHS.player, {
      onOpen: async (ctx) => {
        opened.push(ctx.uid);
        await holdOpen?.(ctx.uid);
      },
      onMessage: (_ctx, req) => (req.mod === 3 && req.seq === 1 ? utf8(name) : req.data),
    })
    .addService(TUNNEL_PATHS.room, { onMessage: (_ctx, req) => req.data });
  const port = await server.listen('127.0.0.1', 0);
  return { name, address: `127.0.0.1:${port}`, opened, close: () => server.close() };
}

const instance = (p: Player, color = '') => ({ id: `${p.name}${color ? `-${color}` : ''}`, endpoints: [`grpc://${p.address}`], metadata: { color } });

/** Where a gateway's Redis is: a standalone server or a cluster's seed nodes. */
interface RedisNodes {
  nodes: string[];
  cluster: boolean;
}

async function startGateway(keys: TestKeys, id: string, redis: RedisNodes | null, players: Player[], o: StackOptions = {}): Promise<Stack> {
  return startStack({
    keys,
    noBackend: true,
    ...o,
    config: {
      gateway: { id },
      listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: await freePort() } },
      discovery: {
        static: {
          'roma.player.service': [...players.map((p) => instance(p)), instance(players[0]!, 'blue')],
          'roma.room.service': [instance(players[0]!)],
        },
      },
      ...(redis ? { routeTable: { redis: { ...redis, commandTimeoutMs: 500, connectTimeoutMs: 10_000, reconnectMinMs: 20, reconnectMaxMs: 200 } } } : {}),
      timeouts: { shutdownMs: 2000, tunnelConnectMs: 1000, loginMs: 3000 },
      ...o.config,
    },
  });
}

/** Connects, handshakes and logs in; asserts SCAuth. */
async function logIn(s: Stack, uid: number, o: { color?: string; sid?: bigint; kind?: 'tcp' | 'ws' } = {}): Promise<RawClient> {
  const kind = o.kind ?? 'tcp';
  const c = await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort);
  await c.handshake(s.keys.clientKey, s.keys.pins);
  const auth = c.sendAuth(await s.token(uid, { ...(o.color ? { color: o.color } : {}), ...(o.sid ? { serverId: o.sid } : {}) }));
  const reply = await c.nextPacket();
  assert.deepEqual([reply?.mod, reply?.seq, reply?.index], [1, 5, auth.index], `uid ${uid}: expected SCAuth`);
  return c;
}

/** Asks the player instance for its name (mod 3 seq 1). */
async function whoServes(c: RawClient): Promise<string> {
  const req = c.send({ mod: 3, seq: 1 });
  const p = await c.nextPacket();
  assert.equal(p?.index, req.index);
  return str(p!.data);
}

/** An echo round trip through the player stream (mod 3 seq 2 is echoed by the test player). */
async function echo(c: RawClient, text: string): Promise<void> {
  const req = c.send({ mod: 3, seq: 2, data: utf8(text) });
  const p = await c.nextPacket();
  assert.deepEqual([p?.index, str(p?.data)], [req.index, text]);
}

/** Two player instances, gateways A and B on `redis`, and a backend's Redis client with a ClusterPusher. */
interface Pair {
  keys: TestKeys;
  p1: Player;
  p2: Player;
  a: Stack;
  b: Stack;
  backendRedis: RedisClient;
  pusher: ClusterPusher;
  /** Closes `c` at stop(). */
  own(c: RawClient): RawClient;
  stop(): Promise<void>;
}

async function startPair(redis: RedisNodes): Promise<Pair> {
  const clients: RawClient[] = [];
  const keys = await makeKeys();
  const p1 = await startPlayer('p1');
  const p2 = await startPlayer('p2');
  const a = await startGateway(keys, 'gw-a', redis, [p1, p2]);
  const b = await startGateway(keys, 'gw-b', redis, [p1, p2]);
  const backendRedis = createRedisClient(redis, 'test-backend');
  await connectRedis(backendRedis, 10_000);
  return {
    keys, p1, p2, a, b, backendRedis,
    pusher: new ClusterPusher(backendRedis),
    own: (c) => (clients.push(c), c),
    async stop() {
      for (const c of clients) c.close();
      await a.stop();
      await b.stop();
      closeRedis(backendRedis);
      await p1.close();
      await p2.close();
    },
  };
}

describe('two gateways on Redis', () => {
  let redis: RedisServer;
  let pair: Pair;
  let keys: TestKeys, p1: Player, p2: Player, a: Stack, b: Stack, backendRedis: RedisClient, pusher: ClusterPusher;
  const own = (c: RawClient): RawClient => pair.own(c);

  before(async () => {
    redis = await RedisServer.start();
    pair = await startPair({ nodes: [redis.address], cluster: false });
    ({ keys, p1, p2, a, b, backendRedis, pusher } = pair);
  });

  after(async () => {
    await pair.stop();
    await redis.stop();
  });

  it('gives each gateway its own gateway-table value (its advertised gRPC address, claimed in Redis)', async () => {
    assert.notEqual(a.gw.gateAddress, b.gw.gateAddress);
    assert.equal(await backendRedis.get(`janus.gate.owner_${a.gw.gateAddress}`), a.gw.instanceId);
    assert.equal(await backendRedis.get(`janus.gate.owner_${b.gw.gateAddress}`), b.gw.instanceId);
  });

  it('routes a uid to the same player instance across reconnects and gateways, spreading uids over both', async () => {
    const served = new Map<number, string>();
    for (const uid of [101, 102, 103, 104]) {
      const first = await logIn(a, uid);
      served.set(uid, await whoServes(first));
      first.close();
      await first.ending;
      for (const gw of [b, a, b]) {
        const again = own(await logIn(gw, uid));
        assert.equal(await whoServes(again), served.get(uid), `uid ${uid} on ${gw.gw.config.gateway.id}`);
        again.close();
        await again.ending;
      }
      const stored = await backendRedis.get(routeKey('roma.player.service', '', BigInt(uid)));
      assert.equal(stored, served.get(uid) === 'p1' ? p1.address : p2.address, 'the sticky entry names the serving instance');
    }
    assert.deepEqual(new Set(served.values()), new Set(['p1', 'p2']), 'both instances serve some uids');
  });

  it('ends the older connection on gateway A with ServerLogout ConflictingLogin when the uid logs in on B; A\'s cleanup keeps B\'s entry', async () => {
    const older = own(await logIn(a, 201));
    assert.equal(await backendRedis.get(gateRouteKey('', 201n)), a.gw.gateAddress);
    const newer = own(await logIn(b, 201, { kind: 'ws' }));
    assert.equal(await older.expectLogout(), Code.ConflictingLogin);
    assert.deepEqual(await older.ending, { fin: true });
    // A issued its compare-and-delete when it ended the session (before the FIN); a later
    // login on A goes to Redis on the same connection, so it is answered after that delete.
    own(await logIn(a, 202));
    assert.equal(await backendRedis.get(gateRouteKey('', 201n)), b.gw.gateAddress, 'B\'s entry survived A\'s cleanup');
    assert.equal(a.gw.sessions.get(201n), undefined);
    await echo(newer, 'still on B');
    // And back: a login on A ends the one on B.
    const third = own(await logIn(a, 201));
    assert.equal(await newer.expectLogout(), Code.ConflictingLogin);
    assert.deepEqual(await newer.ending, { wsCode: 1000 });
    await echo(third, 'on A again');
    assert.equal(await backendRedis.get(gateRouteKey('', 201n)), a.gw.gateAddress);
  });

  it('delivers push, multicast, broadcast (color and sid filters) and kick from a backend through Redis to users on either gateway', async () => {
    const u1 = own(await logIn(a, 301, { sid: 1n }));
    const u2 = own(await logIn(b, 302, { sid: 2n }));
    const u3 = own(await logIn(b, 303, { sid: 1n, color: 'blue' }));
    const body = (seq: number, text: string) => [{ mod: 3, seq, data: utf8(text) }];

    assert.equal(await pusher.push(301n, body(10, 'to 301')), a.gw.gateAddress);
    await expectPush(u1, 10, 'to 301');
    assert.equal(await pusher.push(302n, body(10, 'to 302')), b.gw.gateAddress);
    await expectPush(u2, 10, 'to 302');
    assert.equal(await pusher.push(399n, body(10, 'nobody')), null, 'a uid connected nowhere');

    const pushed = await pusher.multicast([301n, 302n, 399n, 301n], body(11, 'multi'));
    assert.deepEqual(pushed.sort(), [301n, 302n]);
    await expectPush(u1, 11, 'multi');
    await expectPush(u2, 11, 'multi');

    assert.equal(await pusher.broadcast(body(12, 'sid 2'), { sid: 2n }), 2, 'both gateways got it');
    assert.equal(await pusher.broadcast(body(13, 'blue'), { color: 'blue' }), 2);
    assert.equal(await pusher.broadcast(body(14, 'all')), 2);
    // Messages of one publisher reach a subscriber in order: what a session did not get
    // before "all" it did not get at all.
    await expectPush(u2, 12, 'sid 2');
    await expectPush(u3, 13, 'blue');
    for (const c of [u1, u2, u3]) await expectPush(c, 14, 'all');
    assert.equal(await pusher.push(303n, body(15, 'blue uid'), { color: 'blue' }), b.gw.gateAddress);
    await expectPush(u3, 15, 'blue uid');

    assert.equal(await pusher.kick(302n, Code.AdminKickOut), b.gw.gateAddress);
    assert.equal(await u2.expectLogout(), Code.AdminKickOut);
    assert.deepEqual(await u2.ending, { fin: true });
    await echo(u1, 'u1 unaffected');
    await echo(u3, 'u3 unaffected');
    own(await logIn(b, 304));
    assert.equal(await backendRedis.get(gateRouteKey('', 302n)), null, 'the kicked session\'s entry is gone');
  });

  it('a backend finds a uid\'s gateway in the gateway table and pushes and kicks through that gateway\'s gRPC PushService', async () => {
    const u1 = own(await logIn(a, 311));
    const u2 = own(await logIn(b, 312));
    const clients = new Map<string, GatewayPushClient>();
    const via = async (uid: bigint): Promise<GatewayPushClient> => {
      const gw = await pusher.gatewayOf(uid);
      assert.ok(gw, `uid ${uid} is in the gateway table`);
      let c = clients.get(gw);
      if (!c) clients.set(gw, (c = new GatewayPushClient(gw)));
      return c;
    };
    try {
      assert.equal((await via(311n)).address, a.gw.gateAddress);
      assert.equal((await via(312n)).address, b.gw.gateAddress);
      assert.equal(await (await via(311n)).push(311n, [{ mod: 3, seq: 16, data: utf8('grpc to 311') }]), true);
      await expectPush(u1, 16, 'grpc to 311');
      assert.equal(await (await via(312n)).push(312n, [{ mod: 3, seq: 16, data: utf8('grpc to 312') }]), true);
      await expectPush(u2, 16, 'grpc to 312');
      // The call acts on that gateway's sessions only: A does not hold 312.
      assert.equal(await (await via(311n)).push(312n, [{ mod: 3, seq: 16, data: utf8('wrong gateway') }]), false);
      assert.equal(await (await via(312n)).kick(312n, Code.Banned), true);
      assert.equal(await u2.expectLogout(), Code.Banned);
      assert.deepEqual(await u2.ending, { fin: true });
      await echo(u1, 'u1 unaffected');
      await echo(own(await logIn(b, 313)), 'b still serves');
    } finally {
      for (const c of clients.values()) c.close();
    }
  });

  it('drops a stale conflicting-login kick (the table names this gateway again) and a malformed message; an admin kick still ends the session', async () => {
    const u = own(await logIn(a, 701));
    assert.equal(await backendRedis.get(gateRouteKey('', 701n)), a.gw.gateAddress);
    const stats = a.gw.pushChannel.stats;
    const base = { ...stats };
    const kick = (code: number) => Buffer.from(encodePushMessage({ uids: [701n], kick: true, kickCode: code }));
    assert.equal(await backendRedis.publish(a.gw.gateAddress, kick(Code.ConflictingLogin)), 1);
    assert.equal(await backendRedis.publish(a.gw.gateAddress, Buffer.from([0xff, 0xff, 0xff])), 1);
    assert.equal(await backendRedis.publish(a.gw.gateAddress, Buffer.from(encodePushMessage({ uids: [701n], bodies: [{ mod: 1, seq: 4 }] }))), 1);
    assert.equal(await backendRedis.publish(a.gw.gateAddress, kick(99)), 1);
    await handledThrough(a, base.received + 4);
    assert.equal(stats.malformed - base.malformed, 3, 'garbage, a mod 1 body and an unknown kick code are dropped');
    // The stale kick's table check is a GET on A's command connection; a login on A sends its
    // swap on the same connection, so once it is answered the kick decision has been made.
    own(await logIn(a, 702));
    assert.equal(u.bodies.length, 0, 'nothing arrived for 701');
    await echo(u, 'not kicked by a stale conflicting-login kick');
    assert.equal(await backendRedis.publish(a.gw.gateAddress, kick(Code.AdminKickOut)), 1);
    assert.equal(await u.expectLogout(), Code.AdminKickOut, 'the first logout the client sees is the admin kick');
    assert.equal(stats.kicked - base.kicked, 1);
  });

    it('never pushes to a session before its SCAuth', async () => {
    let release!: () => void;
    let reached!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const writing = new Promise<void>((r) => (reached = r));
    // Gateway g's login of 401 stops at its gateway-table write until the test releases it.
    const stores = await openRedisAdapters({ nodes: [redis.address], cluster: false });
    const inner = stores.routeTable;
    const heldTable: RouteTable = {
      get: (k) => inner.get(k),
      getMany: (ks) => inner.getMany(ks),
      setNX: (k, v, t) => inner.setNX(k, v, t),
      async set(k, v, t) {
        if (k === gateRouteKey('', 401n)) {
          reached();
          await held;
        }
        return inner.set(k, v, t);
      },
      renewIfEquals: (k, v, t) => inner.renewIfEquals(k, v, t),
      deleteIfEquals: (k, v) => inner.deleteIfEquals(k, v),
      close: async () => {},
    };
    const g = await startGateway(keys, 'gw-c', null, [p1], { routeTable: heldTable, pushBus: stores.pushBus });
    try {
      const c = own(await RawClient.connect('tcp', g.gw.tcpPort));
      await c.handshake(g.keys.clientKey, g.keys.pins);
      const auth = c.sendAuth(await g.token(401));
      await writing;
      assert.equal(g.gw.sessions.get(401n)?.stats().state, 'authenticating', 'registered while logging in');
      assert.equal(g.gw.push.push(401n, [pushPacket('early')]), false, 'not pushed before SCAuth');
      // The uid is still held by no gateway in Redis: push to g's channel as a backend would after finding it.
      const base = g.gw.pushChannel.stats.received;
      assert.equal(await backendRedis.publish(g.gw.gateAddress, Buffer.from(encodePushMessage({ uids: [401n], bodies: [{ mod: 3, seq: 20, data: utf8('early via redis') }] }))), 1);
      assert.equal(await pusher.broadcast([{ mod: 3, seq: 21, data: utf8('early broadcast') }]), 3);
      await handledThrough(g, base + 2);
      assert.equal(g.gw.sessions.get(401n)?.stats().state, 'authenticating', 'both arrived while it was logging in');
      release();
      const first = await c.nextPacket();
      assert.deepEqual([first?.mod, first?.seq, first?.index], [1, 5, auth.index], 'SCAuth comes first, no push before it');
      assert.equal(g.gw.push.push(401n, [pushPacket('late')]), true);
      await expectPush(c, 9, 'late');
    } finally {
      release();
      await g.stop();
      await stores.close();
    }
  });

  /** Waits until g's push channel has handled `count` messages in all: a marker broadcast (to nobody) goes last, in order. */
  async function handledThrough(g: Stack, count: number): Promise<void> {
    await pusher.broadcast([{ mod: 3, seq: 22, data: utf8('marker') }], { sid: 999n });
    while (g.gw.pushChannel.stats.received < count + 1) await new Promise((r) => setImmediate(r));
  }
});

function pushPacket(text: string) {
  return { mod: 3, seq: 9, obj: 0n, data: utf8(text), dataVersion: 0n, ver: 0, index: 0, connId: 0, fragId: 0, fragCount: 0, fragIndex: 0, compress: false };
}

describe('two gateways while Redis is killed and restarted', () => {
  let redis: RedisServer;
  let keys: TestKeys;
  let p1: Player;
  let a: Stack;
  let b: Stack;
  let storesA: RedisAdapters;
  let storesB: RedisAdapters;
  const clients: RawClient[] = [];
  const own = (c: RawClient): RawClient => (clients.push(c), c);

  before(async () => {
    redis = await RedisServer.start();
    keys = await makeKeys();
    p1 = await startPlayer('p1');
    // The adapters the config path builds, passed in so the test can wait for their recovery.
    const redisCfg = { nodes: [redis.address], cluster: false, commandTimeoutMs: 500, reconnectMinMs: 20, reconnectMaxMs: 200 };
    storesA = await openRedisAdapters(redisCfg);
    storesB = await openRedisAdapters(redisCfg);
    a = await startGateway(keys, 'gw-a', null, [p1], { routeTable: storesA.routeTable, pushBus: storesA.pushBus });
    b = await startGateway(keys, 'gw-b', null, [p1], { routeTable: storesB.routeTable, pushBus: storesB.pushBus });
  });

  after(async () => {
    for (const c of clients) c.close();
    await a.stop();
    await b.stop();
    await storesA.close();
    await storesB.close();
    await p1.close();
    await redis.stop();
  });

  it('keeps open sessions, refuses new routing decisions, and recovers without a restart', async () => {
    const u1 = own(await logIn(a, 501));
    const u2 = own(await logIn(b, 502));
    const recovered = [storesA, storesB].flatMap((s) => [
      new Promise<void>((r) => s.routeTable.onRecovered(r)),
      new Promise<void>((r) => s.pushBus.onRecovered(r)),
    ]);

    await redis.kill();
    // Open sessions keep working on their open streams.
    await echo(u1, 'during the outage');
    await echo(u2, 'during the outage');
    // A new login: ServerLogout Waiting, well before the login deadline.
    const refused = own(await RawClient.connect('tcp', a.gw.tcpPort));
    await refused.handshake(keys.clientKey, keys.pins);
    refused.sendAuth(await a.token(503));
    const started = Date.now();
    assert.equal(await refused.expectLogout(), Code.Waiting);
    assert.deepEqual(await refused.ending, { fin: true });
    assert.ok(Date.now() - started < 3000, 'refused before timeouts.loginMs');
    // A request needing a new routing decision (a room object): ServerUnexpectedErr, the session stays.
    const req = u1.send({ mod: 4, seq: 1, obj: 77n, data: utf8('join') });
    const err = await u1.nextPacket();
    assert.deepEqual([err?.mod, err?.seq, err?.index], [1, 3, req.index]);
    await echo(u1, 'after the refused request');

    await redis.restart();
    await Promise.all(recovered);
    // The restarted server is empty: each gateway wrote its open sessions' entries back.
    assert.equal(await storesA.routeTable.get(gateRouteKey('', 501n)), a.gw.gateAddress);
    assert.equal(await storesB.routeTable.get(gateRouteKey('', 502n)), b.gw.gateAddress);
    assert.equal(a.gw.connectionCount + b.gw.connectionCount, 2, 'no open session was dropped');
    await echo(u1, 'after the restart');
    await echo(u2, 'after the restart');

    // New logins, routing decisions and the push channels work again on both gateways.
    const u3 = own(await logIn(b, 503));
    const room = u3.send({ mod: 4, seq: 1, obj: 77n, data: utf8('join') });
    const joined = await u3.nextPacket();
    assert.deepEqual([joined?.index, str(joined?.data)], [room.index, 'join']);
    const backend = createRedisClient({ nodes: [redis.address], cluster: false }, 'test-backend');
    try {
      await connectRedis(backend, 3000);
      const pusher = new ClusterPusher(backend);
      assert.equal(await pusher.push(501n, [{ mod: 3, seq: 30, data: utf8('back') }]), a.gw.gateAddress);
      await expectPush(u1, 30, 'back');
      assert.equal(await pusher.broadcast([{ mod: 3, seq: 31, data: utf8('all back') }]), 2);
      for (const c of [u1, u2, u3]) await expectPush(c, 31, 'all back');
      // Single login across gateways again: 501 from A to B.
      const moved = own(await logIn(b, 501));
      assert.equal(await u1.expectLogout(), Code.ConflictingLogin);
      await echo(moved, 'moved');
    } finally {
      closeRedis(backend);
    }
  });

  it('stops gracefully while Redis is down: its clients get ServerLogout Waiting, nothing hangs', async () => {
    const c = own(await logIn(a, 510));
    await redis.kill();
    const started = Date.now();
    await a.stop();
    assert.ok(Date.now() - started < 2500, `stopped in ${Date.now() - started} ms`);
    assert.equal(await c.expectLogout(), Code.Waiting);
    await redis.restart(); // for the other gateway's stop in after()
  });
});

describe('gateway address claim', () => {
  it('refuses to start a second gateway with the same advertised gRPC address (JANUS_ERR_GATEWAY_ADDRESS_TAKEN)', async () => {
    const redis = await RedisServer.start();
    const keys = await makeKeys();
    const p = await startPlayer('p');
    const port = await freePort();
    const cfg = { listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port } }, routeTable: { ownerClaimTtlS: 3, redis: { nodes: [redis.address] } } };
    const first = await startGateway(keys, 'gw-1', null, [p], { config: cfg });
    try {
      await assert.rejects(startGateway(keys, 'gw-2', null, [p], { config: cfg }), (err: Error & { code?: string; details?: { address?: string } }) => {
        assert.equal(err.code, 'JANUS_ERR_GATEWAY_ADDRESS_TAKEN');
        assert.equal(err.details?.address, `127.0.0.1:${port}`);
        return true;
      });
      const c = await logIn(first, 601);
      await echo(c, 'the first gateway is unaffected');
      const watcher = createRedisClient({ nodes: [redis.address], cluster: false }, 'test-watch');
      try {
        await connectRedis(watcher, 3000);
        assert.equal(await watcher.get(gateRouteKey('', 601n)), first.gw.gateAddress);
        // A graceful stop logs the session out, deletes its entry and releases the claim.
        await first.stop();
        assert.equal(await watcher.get(gateRouteKey('', 601n)), null);
        assert.equal(await watcher.get(`janus.gate.owner_127.0.0.1:${port}`), null);
        assert.equal(await c.expectLogout(), Code.Waiting);
      } finally {
        closeRedis(watcher);
      }
    } finally {
      await first.stop();
      await p.close();
      await redis.stop();
    }
  });

  it('refuses to start when Redis does not answer within connectTimeoutMs (JANUS_ERR_ROUTE_TABLE_UNAVAILABLE)', async () => {
    const keys = await makeKeys();
    const p = await startPlayer('p');
    try {
      const started = Date.now();
      await assert.rejects(
        startGateway(keys, 'gw-x', null, [p], { config: { routeTable: { redis: { nodes: ['127.0.0.1:1'], connectTimeoutMs: 300, reconnectMinMs: 20, reconnectMaxMs: 50 } } } }),
        (err: Error & { code?: string }) => err.code === 'JANUS_ERR_ROUTE_TABLE_UNAVAILABLE',
      );
      assert.ok(Date.now() - started < 3000, 'gave up after connectTimeoutMs');
    } finally {
      await p.close();
      rmSync(keys.dir, { recursive: true, force: true });
    }
  });
});

describe('two gateways on a Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster;
  let pair: Pair;
  let a: Stack, b: Stack, backendRedis: RedisClient;
  const own = (c: RawClient): RawClient => pair.own(c);

  before(async () => {
    cluster = await startRedisCluster();
    pair = await startPair({ nodes: cluster.seeds, cluster: true });
    ({ a, b, backendRedis } = pair);
  });

  after(async () => {
    await pair.stop();
    await cluster.stop();
  });

  it('routes stickily, ends the older login across gateways, and carries pushes and kicks', async () => {
    const served: string[] = [];
    for (const uid of [801, 802]) {
      const first = own(await logIn(a, uid));
      const name = await whoServes(first);
      served.push(name);
      const second = own(await logIn(b, uid));
      assert.equal(await first.expectLogout(), Code.ConflictingLogin);
      assert.equal(await whoServes(second), name, `uid ${uid} keeps its instance across gateways`);
      assert.equal(await backendRedis.get(gateRouteKey('', BigInt(uid))), b.gw.gateAddress);
    }
    assert.deepEqual(new Set(served), new Set(['p1', 'p2']));
    const onA = own(await logIn(a, 803));
    const { pusher } = pair;
    assert.equal(await pusher.push(803n, [{ mod: 3, seq: 40, data: utf8('via cluster') }]), a.gw.gateAddress);
    await expectPush(onA, 40, 'via cluster');
    // PUBLISH's count on a cluster covers only the node that took it: delivery is what counts.
    await pusher.broadcast([{ mod: 3, seq: 41, data: utf8('cluster broadcast') }]);
    await expectPush(onA, 41, 'cluster broadcast');
    assert.equal(await pusher.kick(803n), a.gw.gateAddress);
    assert.equal(await onA.expectLogout(), Code.AdminKickOut);
  });
});
