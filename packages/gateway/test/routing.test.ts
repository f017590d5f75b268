import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Balancer, SmoothWeightedRoundRobin } from '../src/balancer.js';
import { onAddressesGone, StaticDiscovery, type Instance } from '../src/discovery.js';
import { MemoryRouteTable, routeKey } from '../src/route-table.js';
import { ChannelPool } from '../src/tunnel.js';

describe('MemoryRouteTable', () => {
  it('honours TTLs, SET NX, and compare-and-set renew/delete', async () => {
    let now = 1_000_000;
    const t = new MemoryRouteTable(() => now);
    assert.equal(await t.setNX('k', 'a', 10), 'a');
    assert.equal(await t.setNX('k', 'b', 10), 'a', 'another writer gets the stored value');
    assert.equal(await t.renewIfEquals('k', 'b', 10), false);
    now += 9_000;
    assert.equal(await t.renewIfEquals('k', 'a', 10), true);
    now += 9_000;
    assert.equal(await t.get('k'), 'a', 'renewed');
    now += 2_000;
    assert.equal(await t.get('k'), null, 'expired');
    await t.set('k', 'c', 10);
    assert.equal(await t.deleteIfEquals('k', 'a'), false);
    assert.equal(await t.deleteIfEquals('k', 'c'), true);
    assert.equal(await t.get('k'), null);
  });

  it('builds keys as r_{service}_{color}_{oid}', () => {
    assert.equal(routeKey('roma.room.service', 'blue', -42n), 'r_roma.room.service_blue_-42');
  });
});

describe('SmoothWeightedRoundRobin', () => {
  it('spreads picks by weight, smoothly', () => {
    const s = new SmoothWeightedRoundRobin();
    const inst = (id: string, weight: number): Instance => ({ id, address: id, color: '', weight });
    const list = [inst('a', 5), inst('b', 1), inst('c', 1)];
    const seq = Array.from({ length: 7 }, () => s.pick('g', list).id).join('');
    assert.equal(seq, 'aabacaa');
  });
});

describe('Balancer', () => {
  const lists = {
    svc: [
      { id: 'x', endpoints: ['grpc://127.0.0.11:1'], metadata: { color: 'blue', weight: 100 } },
      { id: 'y', endpoints: ['grpc://127.0.0.12:1'], metadata: { color: 'blue', weight: 100 } },
      { id: 'z', endpoints: ['grpc://127.0.0.13:1'], metadata: { color: 'red', weight: 100 } },
    ],
  };

  it('serves a color only from instances of that color, sticky per oid', async () => {
    const b = new Balancer(new StaticDiscovery(lists), new MemoryRouteTable(), 600);
    assert.equal(await b.pick('svc', 'red', 1n), '127.0.0.13:1');
    assert.equal(await b.pick('svc', 'green', 1n), null);
    const first = await b.pick('svc', 'blue', 7n);
    for (let i = 0; i < 5; i++) assert.equal(await b.pick('svc', 'blue', 7n), first);
    const other = await b.pick('svc', 'blue', 8n);
    assert.notEqual(other, first, 'round robin moves on for a new oid');
  });

  it('renews a sticky entry each time it is used', async () => {
    let now = 1_000_000;
    const table = new MemoryRouteTable(() => now);
    const b = new Balancer(new StaticDiscovery(lists), table, 10);
    const first = await b.pick('svc', 'blue', 5n);
    for (let i = 0; i < 3; i++) {
      now += 9_000; // just under the 10 s TTL, three times: alive only if each pick renewed it
      assert.equal(await b.pick('svc', 'blue', 5n), first);
    }
    now += 9_000;
    assert.equal(await table.get(routeKey('svc', 'blue', 5n)), first);
    now += 2_000;
    assert.equal(await table.get(routeKey('svc', 'blue', 5n)), null, 'unused for a TTL: gone');
  });

    it('uses another writer\'s stored choice, and replaces a stored instance that is gone', async () => {
    const table = new MemoryRouteTable();
    await table.set(routeKey('svc', 'blue', 9n), '127.0.0.12:1', 600);
    const x = { id: 'x', endpoints: ['grpc://127.0.0.11:1'], metadata: { color: 'blue', weight: 100 } };
    const y = { id: 'y', endpoints: ['grpc://127.0.0.12:1'], metadata: { color: 'blue', weight: 100 } };
    const d = new StaticDiscovery({ svc: [x, y] });
    const b = new Balancer(d, table, 600);
    assert.equal(await b.pick('svc', 'blue', 9n), '127.0.0.12:1');
    d.update({ svc: [x] });
    assert.equal(await b.pick('svc', 'blue', 9n), '127.0.0.11:1');
    assert.equal(await table.get(routeKey('svc', 'blue', 9n)), '127.0.0.11:1');
  });
});

describe('no growth under discovery churn', () => {
  const inst = (i: number) => ({ id: `i${i}`, endpoints: [`grpc://127.0.0.${(i % 250) + 1}:1`], metadata: { color: i % 2 ? 'blue' : 'red', weight: 100 } });

  it('the balancer forgets the running weights of instances discovery removed', async () => {
    const d = new StaticDiscovery({ svc: [inst(0), inst(1)] });
    const b = new Balancer(d, new MemoryRouteTable(), 600);
    for (let round = 0; round < 200; round += 2) {
      d.update({ svc: [inst(round), inst(round + 1)] });
      assert.notEqual(await b.pick('svc', 'red', BigInt(round)), null);
      assert.notEqual(await b.pick('svc', 'blue', BigInt(round)), null);
      assert.ok(b.swrr.size <= 2, `round ${round}: ${b.swrr.size} running weights`);
    }
    d.update({ svc: [] });
    assert.equal(b.swrr.size, 0);
  });

  it('the channel pool retires the connections of addresses no name lists any more', async () => {
    const d = new StaticDiscovery({ svc: [inst(0)] });
    const pool = new ChannelPool(2, 500, 100, 65536, { keepaliveMs: 60_000, keepaliveTimeoutMs: 1000 });
    const route = { name: 'svc', path: '/svc.v1.S/Tunnel', discoveryName: 'svc', isPlayer: false };
    const listener = { onMessage() {}, onEnd() {}, onDrain() {}, onTooLarge() {} };
    const retired: string[] = [];
    onAddressesGone(d, ['svc'], (a) => {
      retired.push(a);
      pool.retire(a);
    });
    try {
      for (let i = 0; i < 20; i++) {
        const [address] = d.instances('svc').map((x) => x.address);
        // Port 1 on loopback refuses: the open fails, but the address has its pool now.
        await assert.rejects(pool.open(address!, route, { oid: 1n, uid: 1n, sid: 0n, status: 0, color: '', clientIp: '', gateReferer: '' }, listener));
        assert.equal(pool.addressCount, 1);
        d.update({ svc: [inst(i + 1)] });
        assert.equal(pool.addressCount, 0, `round ${i}`);
      }
      assert.equal(retired.length, 20);
    } finally {
      pool.close();
    }
  });
});
