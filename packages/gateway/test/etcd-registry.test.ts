/**
 * The etcd adapter beyond the Discovery contract, on a real etcd process: the Kratos value
 * it writes and reads, its lease (kept alive, re-created after a loss, revoked on close),
 * values it leaves out, the backend SDK's registerService, and recovery after etcd is
 * killed and restarted.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { registerService } from '@janus/backend';
import { EtcdRegistry, type EtcdDiscovery, type EtcdRegistration } from '@janus/discovery-etcd';
import { until } from './support/discovery-contract.js';
import { etcdPerFile } from './support/etcd-server.js';

const NAME = 'roma.player.service';
const etcd = etcdPerFile();

/** Resolves at the registration's next event `e`. */
const next = (r: EtcdRegistration, e: 'registered' | 'lost'): Promise<void> =>
  new Promise((resolve) => {
    const off = r.on((x) => {
      if (x === e) {
        off();
        resolve();
      }
    });
  });

describe('etcd registration', { timeout: 30_000 }, () => {
  it('writes the Kratos ServiceInstance at {prefix}/{name}/{id}, metadata as strings, and revokes it on close', async () => {
    const prefix = etcd.prefix('registry');
    const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix, leaseTtlS: 5 });
    const reg = registry.register({ id: 'p-1', name: NAME, version: 'v1', metadata: { color: 'blue', weight: '40' }, endpoints: ['grpc://127.0.0.1:9001'] });
    await reg.ready();
    const key = `${prefix}/${NAME}/p-1`;
    assert.equal(reg.key, key);
    assert.deepEqual(JSON.parse((await etcd.raw.get(key).string())!), {
      id: 'p-1',
      name: NAME,
      version: 'v1',
      metadata: { color: 'blue', weight: '40' },
      endpoints: ['grpc://127.0.0.1:9001'],
    });
    const kv = (await etcd.raw.get(key).exec()).kvs[0]!;
    assert.notEqual(kv.lease, '0', 'the key is attached to a lease');
    const ttl = await etcd.raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
    assert.equal(ttl.grantedTTL, '5');
    await registry.close();
    assert.equal(await etcd.raw.get(key).string(), null, 'close() revoked the lease, so etcd deleted the key');
    assert.equal(reg.state, 'closed');
  });

  it('close() right as the key appears (its put possibly not yet answered) still takes the key out before it resolves', async () => {
    const prefix = etcd.prefix('registry');
    const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix, leaseTtlS: 30 });
    try {
      for (let i = 0; i < 5; i++) {
        const reg = registry.register({ id: `racy-${i}`, name: NAME, version: '', metadata: {}, endpoints: ['grpc://127.0.0.1:9009'] });
        await etcd.present(reg.key);
        await reg.close();
        assert.equal(await etcd.raw.get(reg.key).string(), null, `round ${i}: gone when close() resolved, not ${30} s later`);
      }
    } finally {
      await registry.close();
    }
  });

  it('registers again under a new lease when its lease is lost (revoked behind its back)', async () => {
    const prefix = etcd.prefix('registry');
    const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix, leaseTtlS: 5 });
    const reg = registry.register({ id: 'p-2', name: NAME, version: '', metadata: {}, endpoints: ['grpc://127.0.0.1:9002'] });
    try {
      await reg.ready();
      const first = (await etcd.raw.get(reg.key).exec()).kvs[0]!.lease;
      const lost = next(reg, 'lost');
      const again = next(reg, 'registered');
      await etcd.raw.leaseClient.leaseRevoke({ ID: first });
      await etcd.gone(reg.key);
      // The next keepalive (TTL/3 later) hears the lease is gone and registers again at once.
      await lost;
      await again;
      const kv = (await etcd.raw.get(reg.key).exec()).kvs[0]!;
      assert.notEqual(kv.lease, first, 'a new lease');
      assert.equal(reg.grants, 2);
      assert.equal(reg.state, 'registered');
    } finally {
      await registry.close();
    }
  });

  it('backend SDK registerService: interchangeable with a Kratos instance, discovered, removed on close', async () => {
    const prefix = etcd.prefix('registry');
    const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix });
    const d = registry.discovery([NAME]);
    try {
      await d.ready();
      // What a Kratos (Go) service writes: metadata map[string]string, an http endpoint first, a query on the grpc one.
      await etcd.raw
        .put(`${prefix}/${NAME}/go-1`)
        .value('{"id":"go-1","name":"roma.player.service","version":"v1.2.0","metadata":{"color":"blue","weight":"50"},"endpoints":["http://127.0.0.1:8000","grpc://127.0.0.1:9000?isSecure=false"]}');
      const reg = await registerService({ etcd: { endpoints: [etcd.server.endpoint], prefix }, name: NAME, id: 'ts-1', endpoints: ['grpc://127.0.0.1:9003'], color: 'blue', weight: 150 });
      await reg.ready();
      const both = await until(d, NAME, (l) => l.length === 2);
      assert.deepEqual(both, [
        { id: 'go-1', address: '127.0.0.1:9000', color: 'blue', weight: 50 },
        { id: 'ts-1', address: '127.0.0.1:9003', color: 'blue', weight: 150 },
      ]);
      assert.deepEqual(JSON.parse((await etcd.raw.get(reg.key).string())!).metadata, { color: 'blue', weight: '150' }, 'written as Kratos reads it');
      await reg.close();
      await until(d, NAME, (l) => l.length === 1 && l[0]!.id === 'go-1');
    } finally {
      await registry.close();
    }
  });

  it('registerService refuses bad options with a named JANUS_ERR_CONFIG_INVALID', async () => {
    const etcdOpts = { endpoints: [etcd.server.endpoint] };
    const bad = async (o: Partial<Parameters<typeof registerService>[0]>, key: string) =>
      assert.rejects(registerService({ etcd: etcdOpts, name: NAME, id: 'x', endpoints: ['grpc://127.0.0.1:1'], ...o }), (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && e.details.key === key);
    await bad({ name: '' }, 'name');
    await bad({ id: 'a/b' }, 'id');
    await bad({ endpoints: ['http://127.0.0.1:1'] }, 'endpoints');
    await bad({ weight: 0 }, 'weight');
    await bad({ etcd: { endpoints: ['127.0.0.1:2379'] } }, 'endpoints');
    await bad({ etcd: { endpoints: [etcd.server.endpoint], leaseTtlS: 1 } }, 'leaseTtlS');
  });
});

describe('etcd discovery', { timeout: 60_000 }, () => {
  it('leaves out a value that is not a usable ServiceInstance, and takes it in once fixed', async () => {
    const prefix = etcd.prefix('registry');
    const warnings: string[] = [];
    const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix }, { log: { info() {}, warn: (o) => warnings.push(String((o as { key?: string }).key)) } });
    const d = registry.discovery([NAME]);
    try {
      await d.ready();
      const key = `${prefix}/${NAME}/bad`;
      await etcd.raw.put(key).value('{"id":"bad","name":"roma.player.service","endpoints":["http://127.0.0.1:8000"]}');
      await etcd.raw.put(`${prefix}/${NAME}/good`).value('{"id":"good","name":"roma.player.service","endpoints":["grpc://127.0.0.1:9100"]}');
      await until(d, NAME, (l) => l.length === 1 && l[0]!.id === 'good');
      assert.ok(warnings.includes(key), 'the bad key was logged');
      await etcd.raw.put(key).value('{"id":"bad","name":"roma.player.service","metadata":{"weight":"7"},"endpoints":["grpc://127.0.0.1:9101"]}');
      await until(d, NAME, (l) => l.length === 2);
      await etcd.raw.put(key).value('not json');
      await until(d, NAME, (l) => l.length === 1 && l[0]!.id === 'good');
    } finally {
      await registry.close();
    }
  });

  it('keeps serving its cached list while etcd is down, lists again after it restarts, and the registration survives', async () => {
    const prefix = etcd.prefix('registry');
    const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix, leaseTtlS: 15, backoffMinMs: 50, backoffMaxMs: 400, dialTimeoutMs: 500, requestTimeoutMs: 1000 });
    const d: EtcdDiscovery = registry.discovery([NAME]);
    const reg = registry.register({ id: 'self', name: NAME, version: '', metadata: {}, endpoints: ['grpc://127.0.0.1:9200'] });
    try {
      await reg.ready();
      await until(d, NAME, (l) => l.length === 1);
      const listings = d.listings;
      await etcd.server.kill();
      // Down: the cached list stays.
      assert.deepEqual(d.instances(NAME).map((i) => i.id), ['self']);
      await etcd.server.restart();
      // Another instance appears after the restart: the discovery finds it (a new listing or the new watch).
      const other = new Etcd3({ hosts: etcd.server.endpoint });
      try {
        await other.put(`${prefix}/${NAME}/late`).value('{"id":"late","name":"roma.player.service","endpoints":["grpc://127.0.0.1:9201"]}');
      } finally {
        other.close();
      }
      await until(d, NAME, (l) => l.map((i) => i.id).join() === 'late,self');
      assert.ok(d.listings > listings, 'listed again after the watch broke');
      assert.equal(reg.state, 'registered');
      assert.notEqual(await etcd.raw.get(reg.key).string(), null, 'still registered after the restart');
    } finally {
      await registry.close();
    }
  });
});
