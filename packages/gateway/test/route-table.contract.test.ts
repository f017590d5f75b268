/**
 * One contract suite for the RouteTable port (PROTOCOL.md 10), run against every adapter:
 * the in-memory table, Redis standalone and a Redis Cluster of three masters (real
 * redis-server processes, test/support/redis-server.ts). TTL expiry is checked on the
 * memory table with a moved clock and on Redis with a 1 s TTL (Redis expires by its own
 * clock: the test waits for the key's own expiry event, never a fixed sleep).
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { closeRedis, connectRedis, createRedisClient, RedisRouteTable, type RedisClient } from '@janus/redis';
import { MemoryRouteTable, type RouteTable } from '../src/route-table.js';
import { RedisServer, startRedisCluster, type RedisCluster } from './support/redis-server.js';

interface Adapter {
  table: RouteTable;
  /** A table of its own on the same store, for a test that closes it. */
  own(): Promise<RouteTable>;
  /** Lets `ttlS` seconds pass for the table (moves a clock, or waits for Redis to expire `key`). */
  expire(key: string, ttlS: number): Promise<void>;
}

/** The suite every adapter passes. `fresh()` yields a table and a unique key prefix. */
function contract(name: string, fresh: () => Adapter) {
  describe(`RouteTable contract: ${name}`, () => {
    let n = 0;
    const key = (): string => `r_contract.service_blue_${Date.now()}${n++}`;

    it('get: null for a key never written', async () => {
      assert.equal(await fresh().table.get(key()), null);
    });

    it('getMany: the values in the order asked, null for absent and expired keys, [] for none', async () => {
      const a = fresh();
      const keys = Array.from({ length: 50 }, () => key());
      for (const [i, k] of keys.entries()) if (i % 3 !== 0) await a.table.set(k, `v${i}`, 60);
      const gone = key();
      await a.table.set(gone, 'old', 1);
      await a.expire(gone, 1);
      assert.deepEqual(
        await a.table.getMany([...keys, gone, keys[1]!]),
        [...keys.map((_, i) => (i % 3 !== 0 ? `v${i}` : null)), null, 'v1'],
      );
      assert.deepEqual(await a.table.getMany([]), []);
    });

    it('setNX: the first writer wins, later writers get the stored value', async () => {
      const { table } = fresh();
      const k = key();
      assert.equal(await table.setNX(k, '127.0.0.11:1', 60), '127.0.0.11:1');
      assert.equal(await table.setNX(k, '127.0.0.12:1', 60), '127.0.0.11:1');
      assert.equal(await table.get(k), '127.0.0.11:1');
    });

    it('setNX: concurrent writers agree on one value', async () => {
      const { table } = fresh();
      const k = key();
      const answers = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((v) => table.setNX(k, v, 60)));
      assert.equal(new Set(answers).size, 1, `every writer got the winner: ${answers.join(',')}`);
      assert.equal(await table.get(k), answers[0]);
    });

    it('set: overwrites and returns what it replaced', async () => {
      const { table } = fresh();
      const k = key();
      assert.equal(await table.set(k, 'A', 60), null);
      assert.equal(await table.set(k, 'B', 60), 'A');
      assert.equal(await table.get(k), 'B');
    });

    it('set: concurrent swaps hand each previous value to exactly one writer', async () => {
      const { table } = fresh();
      const k = key();
      const writers = ['g1', 'g2', 'g3', 'g4'];
      const prev = await Promise.all(writers.map((v) => table.set(k, v, 60)));
      // A chain: exactly one saw null, and every other saw a distinct earlier writer.
      assert.equal(prev.filter((p) => p === null).length, 1);
      const seen = prev.filter((p): p is string => p !== null);
      assert.equal(new Set(seen).size, seen.length);
      const last = await table.get(k);
      assert.ok(last && !seen.includes(last), 'the last writer is nobody\'s previous value');
    });

    it('renewIfEquals / deleteIfEquals act only while the key holds the value', async () => {
      const { table } = fresh();
      const k = key();
      await table.set(k, 'ours', 60);
      assert.equal(await table.renewIfEquals(k, 'theirs', 60), false);
      assert.equal(await table.deleteIfEquals(k, 'theirs'), false);
      assert.equal(await table.get(k), 'ours');
      assert.equal(await table.renewIfEquals(k, 'ours', 60), true);
      assert.equal(await table.deleteIfEquals(k, 'ours'), true);
      assert.equal(await table.get(k), null);
      assert.equal(await table.renewIfEquals(k, 'ours', 60), false, 'an absent key is not renewed');
      assert.equal(await table.get(k), null, 'and not re-created');
      assert.equal(await table.deleteIfEquals(k, 'ours'), false);
    });

    it('entries expire after their TTL and are then free', async () => {
      const a = fresh();
      const k1 = key();
      const k2 = key();
      await a.table.set(k1, 'v', 1);
      await a.table.setNX(k2, 'w', 1);
      await a.expire(k1, 1);
      await a.expire(k2, 1);
      assert.equal(await a.table.get(k1), null);
      assert.equal(await a.table.get(k2), null);
      assert.equal(await a.table.setNX(k2, 'x', 60), 'x', 'an expired key is free for SET NX');
      assert.equal(await a.table.renewIfEquals(k1, 'v', 60), false, 'an expired entry is not renewed');
    });

    it('close() lets the operations in flight finish, and those chained onto their answers (a renewal\'s next steps)', async () => {
      const table = await fresh().own();
      const k = key();
      // A session renewal's shape: each step sent from the answer of the one before.
      const chain = table
        .set(k, 'ours', 60)
        .then(() => table.get(k))
        .then((v) => table.renewIfEquals(k, v ?? 'gone', 60))
        .then(async (renewed) => [renewed, await table.setNX(k, 'theirs', 60), await table.deleteIfEquals(k, 'ours'), await table.get(k)]);
      await table.close();
      assert.deepEqual(await chain, [true, 'ours', true, null]);
    });
  });
}

// ---- memory ----------------------------------------------------------------------------

let memNow = Date.now();
const memory = new MemoryRouteTable(() => memNow);
contract('memory', () => ({
  table: memory,
  own: async () => new MemoryRouteTable(() => memNow),
  async expire(_key, ttlS) {
    memNow += ttlS * 1000;
  },
}));

// ---- Redis ------------------------------------------------------------------------------

/** Waits for Redis to expire `key` by its own clock: keyspace notifications, no polling. */
async function redisExpire(server: { watcher: EventEmitter }, table: RouteTable, key: string): Promise<void> {
  if ((await table.get(key)) === null) return;
  await new Promise<void>((resolve) => {
    const onMessage = (_ch: string, k: string): void => {
      if (k !== key) return;
      server.watcher.off('pmessage', onPMessage);
      resolve();
    };
    const onPMessage = (_p: string, ch: string, k: string): void => onMessage(ch, k);
    server.watcher.on('pmessage', onPMessage);
    // A key may have expired between the get above and the listener: check once more.
    table.get(key).then(
      (v) => {
        if (v === null) {
          server.watcher.off('pmessage', onPMessage);
          resolve();
        }
      },
      () => {}, // the expiry event still comes
    );
  });
}

describe('RouteTable on Redis standalone', () => {
  let server: RedisServer;
  const s = {} as { table: RedisRouteTable; watcher: RedisClient };
  before(async () => {
    server = await RedisServer.start();
    const opts = { nodes: [server.address], cluster: false };
    s.table = new RedisRouteTable(createRedisClient(opts, 'contract'));
    await connectRedis(s.table.client, 3000);
    // No resubscribe after the restart test (the last one): nothing watches expiries then.
    s.watcher = createRedisClient(opts, 'contract-watch', { subscriber: true });
    await connectRedis(s.watcher, 3000);
    await s.table.client.config('SET', 'notify-keyspace-events', 'Ex');
    await s.watcher.psubscribe('__keyevent@0__:expired');
  });
  after(async () => {
    await s.table.close();
    closeRedis(s.watcher);
    await server.stop();
  });
  const own = async (): Promise<RouteTable> => {
    const t = new RedisRouteTable(createRedisClient({ nodes: [server.address], cluster: false }, 'contract-own'));
    await connectRedis(t.client, 3000);
    return t;
  };
  contract('redis standalone', () => ({ table: s.table, own, expire: (k) => redisExpire(s, s.table, k) }));

  it('fails fast with JANUS_ERR_ROUTE_TABLE_UNAVAILABLE while Redis is down, and works again after it restarts', async () => {
    await server.kill();
    const started = Date.now();
    await assert.rejects(s.table.get('r_x_blue_1'), (err) => isJanusError(err, ErrorCode.RouteTableUnavailable));
    await assert.rejects(s.table.setNX('r_x_blue_1', 'a', 60), (err) => isJanusError(err, ErrorCode.RouteTableUnavailable));
    await assert.rejects(s.table.getMany(['r_x_blue_1', 'r_x_blue_2']), (err) => isJanusError(err, ErrorCode.RouteTableUnavailable));
    assert.ok(Date.now() - started < 1500, 'no command waited for a reconnect');
    const recovered = new Promise<void>((resolve) => {
      const off = s.table.onRecovered(() => {
        off();
        resolve();
      });
    });
    await server.restart();
    await recovered;
    assert.equal(await s.table.setNX('r_x_blue_1', 'b', 60), 'b', 'the restarted (empty) server takes writes; the scripts were loaded again');
    await s.table.client.config('SET', 'notify-keyspace-events', 'Ex');
  });
});

describe('RouteTable on a Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster;
  const s = {} as { table: RedisRouteTable; watcher: EventEmitter; nodeClients: RedisClient[] };
  before(async () => {
    cluster = await startRedisCluster();
    s.table = new RedisRouteTable(createRedisClient({ nodes: cluster.seeds, cluster: true }, 'contract'));
    await connectRedis(s.table.client, 10_000);
    // Expiry events are per node: one subscriber per master, all feeding one emitter.
    s.nodeClients = [];
    s.watcher = new EventEmitter();
    for (const seed of cluster.seeds) {
      const c = createRedisClient({ nodes: [seed], cluster: false }, 'contract-watch');
      await connectRedis(c, 3000);
      await c.config('SET', 'notify-keyspace-events', 'Ex');
      const sub = createRedisClient({ nodes: [seed], cluster: false }, 'contract-watch', { subscriber: true });
      await connectRedis(sub, 3000);
      await sub.psubscribe('__keyevent@0__:expired');
      sub.on('pmessage', (p: string, ch: string, k: string) => s.watcher.emit('pmessage', p, ch, k));
      s.nodeClients.push(c, sub);
    }
  });
  after(async () => {
    await s.table.close();
    for (const c of s.nodeClients) closeRedis(c);
    await cluster.stop();
  });
  const own = async (): Promise<RouteTable> => {
    const t = new RedisRouteTable(createRedisClient({ nodes: cluster.seeds, cluster: true }, 'contract-own'));
    await connectRedis(t.client, 10_000);
    return t;
  };
  contract('redis cluster', () => ({ table: s.table, own, expire: (k) => redisExpire(s, s.table, k) }));

  it('spreads the keys over the masters (each script runs on its own key\'s slot)', async () => {
    for (let i = 0; i < 30; i++) await s.table.set(`r_spread_blue_${i}`, 'v', 60);
    const counts = await Promise.all(s.nodeClients.filter((_, i) => i % 2 === 0).map((c) => c.dbsize()));
    assert.equal(counts.filter((c) => c > 0).length, 3, `keys per master: ${counts.join(',')}`);
  });
});
