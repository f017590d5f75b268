/**
 * The whole "scale out" layout of docs/deployment.md on 127.0.0.1, for the scale-out tests:
 * one real etcd and one real redis-server, two gateways on both (etcd discovery and
 * registration, Redis route tables and push channels), and backends registered in etcd
 * through the backend SDK's registerService (Kratos layout): two player instances (p1, p2),
 * a blue and a green player instance, and one room instance (the demo backend). Each player
 * instance answers every request with `{its id}|{the request's text}`, so a test sees which
 * instance served it. Everything is stopped by `stop()` (the tests call it in after()).
 */
import { strict as assert } from 'node:assert';
import { after, before } from 'node:test';
import { TUNNEL_PATHS, utf8 } from '@janus/protocol';
import { ClusterPusher, TunnelServer, type ServiceRegistration } from '@janus/backend';
import { closeRedis, connectRedis, createRedisClient, openRedisAdapters, type RedisAdapters, type RedisClient } from '@janus/redis';
import { Etcd3 } from 'etcd3';
import { until } from './discovery-contract.js';
import { registerBackend, startRegisteredBackend, type RegisterAs, type RegisteredBackend } from './etcd-backend.js';
import { EtcdServer } from './etcd-server.js';
import type { RawClient } from './raw-client.js';
import { RedisServer } from './redis-server.js';
import { loggedIn, str } from './session.js';
import { makeKeys, startStack, type Stack, type TestKeys } from './stack.js';

export const PLAYER = 'roma.player.service';
export const ROOM = 'roma.room.service';
/** The gateways' `management.adminToken` (the HTTP push routes need it). */
export const ADMIN_TOKEN = 'scale-out-admin-token-0123456789';
/** etcd lease TTL of the gateways and of the backends a test kills (s): small, so an expiry is quick. */
export const SHORT_LEASE_S = 2;

/** A player instance registered in etcd. */
export interface NamedPlayer {
  /** Its instance id, the `{id}|` of its answers. */
  id: string;
  color: string;
  /** `127.0.0.1:port` */
  address: string;
  /** uids whose player stream opened here, in order. */
  opened: bigint[];
  reg: ServiceRegistration;
  stop(): Promise<void>;
}

/** Starts a player instance answering `{id}|{text}` and registers it as `o`; resolves once it is in etcd. */
export async function startNamedPlayer(o: RegisterAs): Promise<NamedPlayer> {
  const opened: bigint[] = [];
  const server = new TunnelServer().addService(TUNNEL_PATHS.player, {
    onOpen: (ctx) => void opened.push(ctx.uid),
    onMessage: (_ctx, req) => utf8(`${o.id}|${str(req.data)}`),
  });
  const address = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  const reg = await registerBackend(o, address);
  const stop = async (): Promise<void> => {
    await reg.close();
    await server.close();
  };
  return { id: o.id, color: o.color, address, opened, reg, stop };
}

/**
 * A request on the player stream (mod 3 seq 1 carrying `text`); asserts the reply answers it
 * and carries the text, and returns the id of the instance that served it.
 */
export async function served(c: RawClient, text = 'who'): Promise<string> {
  const req = c.send({ mod: 3, seq: 1, data: utf8(text) });
  const p = await c.nextPacket();
  assert.deepEqual([p?.mod, p?.seq, p?.index], [3, 1, req.index], 'expected the reply to the player request');
  const [id, echoed] = str(p!.data).split('|');
  assert.equal(echoed, text);
  return id!;
}

/** Records whether a connection ended (ServerLogout or any close) from now on. */
export function watchOpen(c: RawClient): { readonly ended: boolean } {
  const w = { ended: false };
  void c.ending.then(() => (w.ended = true));
  return w;
}

/** One gateway of the cluster, with the Redis adapters it was given (to wait on their recovery). */
export interface ClusterGateway extends Stack {
  stores: RedisAdapters;
  /** Its etcd registration key. */
  etcdKey: string;
}

/** The running cluster. */
export interface ScaleOut {
  etcd: EtcdServer;
  redis: RedisServer;
  /** A plain etcd client for the test's reads. */
  raw: Etcd3;
  prefix: string;
  keys: TestKeys;
  p1: NamedPlayer;
  p2: NamedPlayer;
  blue: NamedPlayer;
  green: NamedPlayer;
  room: RegisteredBackend;
  a: ClusterGateway;
  b: ClusterGateway;
  /** A backend's Redis client and its ClusterPusher. */
  backendRedis: RedisClient;
  pusher: ClusterPusher;
  /** Where and as what a backend of this cluster registers (for startRegisteredBackend / spawnRegisteredBackend). */
  as(id: string, color?: string, leaseTtlS?: number): RegisterAs;
  /** Logs `uid` in on `gw` (closed at stop()). */
  login(gw: Stack, uid: number, o?: { color?: string; kind?: 'tcp' | 'ws' }): Promise<RawClient>;
  /** Closes `c` at stop(). */
  own(c: RawClient): RawClient;
  /** Starts another player instance of this cluster (stopped at stop()). */
  addPlayer(id: string, color?: string, leaseTtlS?: number): Promise<NamedPlayer>;
  /** Resolves once both gateways list `count` player instances of `color`. */
  playersSeen(color: string, count: number): Promise<void>;
  stop(): Promise<void>;
}

/** Opens the Redis adapters a gateway is given and starts the gateway on etcd and them. */
async function startGateway(keys: TestKeys, id: string, etcd: EtcdServer, prefix: string, redis: RedisServer): Promise<ClusterGateway> {
  const stores = await openRedisAdapters({ nodes: [redis.address], cluster: false, commandTimeoutMs: 500, reconnectMinMs: 20, reconnectMaxMs: 200 });
  try {
    const stack = await startStack({
      keys,
      noBackend: true,
      routeTable: stores.routeTable,
      pushBus: stores.pushBus,
      config: {
        gateway: { id },
        discovery: { etcd: { endpoints: [etcd.endpoint], prefix, leaseTtlS: SHORT_LEASE_S, backoffMinMs: 50, backoffMaxMs: 500, dialTimeoutMs: 500, requestTimeoutMs: 1000 } },
        management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN },
        timeouts: { shutdownMs: 2000, tunnelConnectMs: 1000, loginMs: 3000 },
      },
    });
    return Object.assign(stack, { stores, etcdKey: `${prefix}/janus.gate.interface/${id}` });
  } catch (err) {
    await stores.close();
    throw err;
  }
}

/**
 * Starts etcd, Redis, the backends and the two gateways (gw-a, gw-b); resolves once both
 * gateways list every backend. On a failure part way, what was started is stopped.
 */
export async function startScaleOut(): Promise<ScaleOut> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s();
  };
  try {
    const etcd = await EtcdServer.start();
    stops.push(() => etcd.stop());
    const redis = await RedisServer.start();
    stops.push(() => redis.stop());
    const raw = new Etcd3({ hosts: etcd.endpoint });
    stops.push(async () => raw.close());
    const prefix = '/scale-out';
    const players: NamedPlayer[] = [];
    stops.push(async () => {
      for (const p of players) await p.stop();
    });
    const as = (id: string, color = '', leaseTtlS = 15): RegisterAs => ({ endpoint: etcd.endpoint, prefix, name: PLAYER, id, color, leaseTtlS });
    const addPlayer = async (id: string, color = '', leaseTtlS = 15): Promise<NamedPlayer> => {
      const p = await startNamedPlayer(as(id, color, leaseTtlS));
      players.push(p);
      return p;
    };
    const [p1, p2, blue, green] = [await addPlayer('p1'), await addPlayer('p2'), await addPlayer('blue-1', 'blue'), await addPlayer('green-1', 'green')];
    const room = await startRegisteredBackend({ ...as('room-1'), name: ROOM });
    stops.push(() => room.stop());
    const keys = await makeKeys();
    const a = await startGateway(keys, 'gw-a', etcd, prefix, redis);
    stops.push(async () => {
      await a.stop();
      await a.stores.close();
    });
    const b = await startGateway(keys, 'gw-b', etcd, prefix, redis);
    stops.push(async () => {
      await b.stop();
      await b.stores.close();
    });
    const clients: RawClient[] = [];
    // Registered last: closed first, before the gateways stop.
    stops.push(async () => {
      for (const c of clients.splice(0)) c.close();
    });
    const backendRedis = createRedisClient({ nodes: [redis.address], cluster: false, reconnectMinMs: 20, reconnectMaxMs: 200 }, 'test-backend');
    stops.splice(stops.length - 1, 0, async () => closeRedis(backendRedis));
    await connectRedis(backendRedis, 10_000);
    const playersSeen = async (color: string, count: number): Promise<void> => {
      for (const g of [a, b]) await until(g.gw.discovery, PLAYER, (l) => l.filter((i) => i.color === color).length === count);
    };
    await playersSeen('', 2);
    await playersSeen('blue', 1);
    await playersSeen('green', 1);
    for (const g of [a, b]) await until(g.gw.discovery, ROOM, (l) => l.length === 1);
    const own = (c: RawClient): RawClient => (clients.push(c), c);
    return {
      etcd, redis, raw, prefix, keys, p1, p2, blue, green, room, a, b, backendRedis,
      pusher: new ClusterPusher(backendRedis),
      as,
      login: async (gw, uid, o = {}) => own(await loggedIn(gw, o.kind ?? 'tcp', uid, o.color !== undefined ? { color: o.color } : {})),
      own,
      addPlayer,
      playersSeen,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Starts the cluster in the file's before() and stops it in its after(); `onStart` gets it
 * (the file keeps it for its tests).
 */
export function scaleOutPerFile(onStart: (c: ScaleOut) => void): void {
  let c: ScaleOut | null = null;
  before(async () => {
    c = await startScaleOut();
    onStart(c);
  });
  after(async () => {
    await c?.stop();
  });
}
