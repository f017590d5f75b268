/** Unit tests of the etcd adapter's parts that need no etcd: options and retry delays. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { Backoff, ETCD_DEFAULTS, resolveEtcdOptions } from '../src/index.js';

describe('resolveEtcdOptions', () => {
  it('fills the defaults', () => {
    assert.deepEqual(resolveEtcdOptions({ endpoints: ['http://127.0.0.1:2379'] }), { endpoints: ['http://127.0.0.1:2379'], ...ETCD_DEFAULTS });
    assert.equal(ETCD_DEFAULTS.prefix, '/microservices');
    assert.equal(ETCD_DEFAULTS.leaseTtlS, 15);
  });

  it('names the bad option', () => {
    const bad = (o: object, key: string) =>
      assert.throws(() => resolveEtcdOptions(o as never), (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && e.details.key === key, key);
    bad({ endpoints: [] }, 'endpoints');
    bad({}, 'endpoints');
    bad({ endpoints: ['etcd:2379'] }, 'endpoints');
    bad({ endpoints: ['http://e:2379'], prefix: 'microservices' }, 'prefix');
    bad({ endpoints: ['http://e:2379'], prefix: '/microservices/' }, 'prefix');
    bad({ endpoints: ['http://e:2379'], leaseTtlS: 1 }, 'leaseTtlS');
    bad({ endpoints: ['http://e:2379'], leaseTtlS: 2.5 }, 'leaseTtlS');
    bad({ endpoints: ['http://e:2379'], requestTimeoutMs: 0 }, 'requestTimeoutMs');
    bad({ endpoints: ['http://e:2379'], backoffMinMs: 100, backoffMaxMs: 50 }, 'backoffMaxMs');
  });
});

describe('Backoff', () => {
  it('doubles up to the cap, jittered into [d/2, d), and starts over after reset()', () => {
    let r = 0;
    const b = new Backoff(100, 1000, () => r);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 400, 500, 500]);
    b.reset();
    r = 0.999;
    const d = b.next();
    assert.ok(d >= 50 && d < 100, `${d}`);
    const spread = new Backoff(1000, 1000);
    const samples = Array.from({ length: 200 }, () => spread.next());
    assert.ok(samples.every((s) => s >= 500 && s < 1000));
    assert.ok(new Set(samples).size > 100, 'jittered: retries of many gateways do not line up');
  });
});
