import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { parseLoadArgs } from '../src/args.js';
import { LatencyHistogram } from '../src/histogram.js';

describe('LatencyHistogram', () => {
  it('reports quantiles within 0.2 % and exact count, mean and max', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 10_000; i++) h.record(i / 100); // 0.01 .. 100 ms, uniform
    const s = h.summary();
    assert.equal(s.count, 10_000);
    assert.ok(Math.abs(s.meanMs - 50.005) < 1e-6, `mean ${s.meanMs}`);
    assert.equal(s.maxMs, 100);
    for (const [got, want] of [[s.p50Ms, 50], [s.p90Ms, 90], [s.p99Ms, 99]] as const) {
      assert.ok(Math.abs(got - want) / want < 0.002, `${got} vs ${want}`);
    }
    h.reset();
    assert.equal(h.summary().count, 0);
  });
});

describe('parseLoadArgs', () => {
  it('reads the options and their defaults, and names a bad option', () => {
    const a = parseLoadArgs(['--connections', '1000', '--transport', 'ws'])!;
    assert.equal(a.options.connections, 1000);
    assert.equal(a.options.transport, 'ws');
    assert.equal(a.options.sizeBytes, 64);
    assert.equal(parseLoadArgs(['--help']), null);
    assert.throws(() => parseLoadArgs(['--connections', 'many']), (e) => isJanusError(e, ErrorCode.ArgInvalid) && e.message.includes('--connections'));
  });
});
