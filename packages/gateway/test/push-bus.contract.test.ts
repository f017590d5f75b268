/**
 * One contract suite for the PushBus port (PROTOCOL.md 11, "Cluster"), run against the
 * in-process bus and Redis pub/sub on a real redis-server; plus the pieces of the Redis
 * client the suite cannot see (reconnect backoff).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { closeRedis, createRedisClient, connectRedis, reconnectDelayMs, RedisPushBus } from '@janus/redis';
import { MemoryPushBus, type PushBus } from '../src/push/bus.js';
import { RedisServer, startRedisCluster, type RedisCluster } from './support/redis-server.js';

/** Resolves the next `n` messages `bus` delivers on `channels`. */
async function collect(bus: PushBus, channels: string[], n: number): Promise<{ received: Promise<[string, string][]>; unsubscribe(): Promise<void> }> {
  const got: [string, string][] = [];
  let done!: (v: [string, string][]) => void;
  const received = new Promise<[string, string][]>((r) => (done = r));
  const sub = await bus.subscribe(channels, (ch, m) => {
    got.push([ch, new TextDecoder().decode(m)]);
    if (got.length === n) done(got);
  });
  return { received, unsubscribe: () => sub.unsubscribe() };
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** `countsAll`: publish counts subscribers everywhere (not on a Redis Cluster, where PUBLISH counts one node's). */
function contract(name: string, bus: () => PushBus, countsAll = true) {
  const someone = (n: number): void => {
    if (countsAll) assert.ok(n > 0, 'publish counted a receiver');
  };
  describe(`PushBus contract: ${name}`, () => {
    it('delivers to every subscriber of a channel, in publish order per channel, and says someone got it', async () => {
      const x = await collect(bus(), ['c.one', 'c.two'], 3);
      const y = await collect(bus(), ['c.one'], 2);
      someone(await bus().publish('c.one', bytes('1')));
      someone(await bus().publish('c.two', bytes('2')));
      someone(await bus().publish('c.one', bytes('3')));
      // Order holds per channel (a Redis Cluster publishes each channel through its own node).
      const xs = await x.received;
      assert.deepEqual(xs.filter(([c]) => c === 'c.one'), [['c.one', '1'], ['c.one', '3']]);
      assert.deepEqual(xs.filter(([c]) => c === 'c.two'), [['c.two', '2']]);
      assert.deepEqual(await y.received, [['c.one', '1'], ['c.one', '3']]);
      await x.unsubscribe();
      await y.unsubscribe();
    });

    it('counts nobody on a channel without subscribers, and stops delivering after unsubscribe', async () => {
      assert.equal(await bus().publish('c.empty', bytes('lost')), 0, 'nobody anywhere');
      const x = await collect(bus(), ['c.unsub'], 1);
      const y = await collect(bus(), ['c.unsub', 'c.after'], 2);
      await x.unsubscribe();
      someone(await bus().publish('c.unsub', bytes('only y')));
      someone(await bus().publish('c.after', bytes('marker')));
      assert.deepEqual((await y.received).sort(), [['c.after', 'marker'], ['c.unsub', 'only y']]);
      await y.unsubscribe();
      assert.equal(await bus().publish('c.unsub', bytes('nobody')), 0, 'nobody anywhere');
    });

    it('carries arbitrary bytes unchanged, even when the publisher reuses its buffer', async () => {
      let resolve!: (m: Uint8Array) => void;
      const got = new Promise<Uint8Array>((r) => (resolve = r));
      const sub = await bus().subscribe(['c.bin'], (_c, m) => resolve(Uint8Array.from(m)));
      const buf = Uint8Array.from([0, 255, 1, 254, 0]);
      await bus().publish('c.bin', buf);
      buf.fill(7);
      assert.deepEqual([...(await got)], [0, 255, 1, 254, 0]);
      await sub.unsubscribe();
    });
  });
}

const memory = new MemoryPushBus();
contract('memory', () => memory);

describe('PushBus on Redis', () => {
  let server: RedisServer;
  let bus: RedisPushBus;
  let pub: ReturnType<typeof createRedisClient>;
  before(async () => {
    server = await RedisServer.start();
    const o = { nodes: [server.address], cluster: false };
    pub = createRedisClient(o, 'bus-pub');
    const sub = createRedisClient(o, 'bus-sub', { subscriber: true });
    await connectRedis(pub, 3000);
    await connectRedis(sub, 3000);
    bus = new RedisPushBus(pub, sub, true);
  });
  after(async () => {
    await bus.close();
    await server.stop();
  });
  contract('redis', () => bus);

  it('resubscribes after Redis restarts, reports it, and delivers again', async () => {
    const x = await collect(bus, ['c.restart'], 1);
    const back = new Promise<void>((r) => bus.onRecovered(r));
    const pubBack = new Promise<void>((r) => pub.once('ready', () => r()));
    await server.restart();
    await back;
    await pubBack;
    assert.equal(await bus.publish('c.restart', bytes('after restart')), 1);
    assert.deepEqual(await x.received, [['c.restart', 'after restart']]);
    await x.unsubscribe();
  });
});

describe('PushBus on a Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster;
  let bus: RedisPushBus;
  before(async () => {
    cluster = await startRedisCluster();
    const o = { nodes: cluster.seeds, cluster: true };
    const pub = createRedisClient(o, 'bus-pub');
    const sub = createRedisClient(o, 'bus-sub', { subscriber: true });
    await connectRedis(pub, 10_000);
    await connectRedis(sub, 10_000);
    bus = new RedisPushBus(pub, sub, true);
  });
  after(async () => {
    await bus.close();
    await cluster.stop();
  });
  contract('redis cluster', () => bus, false);
});

describe('Redis reconnect backoff', () => {
  it('doubles from reconnectMinMs up to reconnectMaxMs, each delay in the upper half of its step (jitter)', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 10].map((t) => reconnectDelayMs(t, 100, 1000, 0.999999)), [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    assert.deepEqual([1, 2, 3, 4, 8].map((t) => reconnectDelayMs(t, 100, 1000, 0)), [50, 100, 200, 400, 500]);
    assert.equal(reconnectDelayMs(1000, 100, 5000, 0.5), 3750, 'no overflow for a long outage');
  });

  it('refuses a standalone client with several nodes and a bad node address', () => {
    assert.throws(() => createRedisClient({ nodes: ['127.0.0.1:1', '127.0.0.1:2'], cluster: false }, 't'), /exactly one node/);
    assert.throws(() => createRedisClient({ nodes: ['127.0.0.1'], cluster: false }, 't'), /not host:port/);
    closeRedis(createRedisClient({ nodes: ['[::1]:6379'], cluster: false }, 't'));
  });
});
