/**
 * The dashboard sampler (management/sampler.ts) on a manual clock: rates from the metric
 * tallies between samples, percentiles over the window from the real prom-client
 * histograms, recent error events, the ring's capacity, and the timer through the Clock port.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/index.js';
import { GatewayMetrics } from '../src/management/metrics.js';
import { DashboardSampler, quantile, type DashboardBackend } from '../src/management/sampler.js';
import { ManualClock } from '../src/manual-clock.js';

function setup(o: { capacity?: number; windowSamples?: number } = {}) {
  const cfg = parseConfig({ keys: { dir: '/nonexistent' }, metrics: { latencySampleEvery: 1, processMetrics: false } });
  let sessions = 0;
  const tunnels = new Map<string, number>();
  const metrics = new GatewayMetrics(cfg, { sessions: () => sessions, liveBytes: () => ({ tcp: { read: 0, written: 0 }, ws: { read: 0, written: 0 } }), openTunnels: () => tunnels });
  const clock = new ManualClock(1_700_000_000_000);
  const backends: DashboardBackend[] = [{ service: 'player', discoveryName: 'roma.player.service', tunnelsOpen: 2, instances: [{ id: 'p-1', color: '', weight: 1, tunnelsOpen: 2 }] }];
  const sampler = new DashboardSampler(metrics, clock, () => backends, { gatewayId: 'gw-test', ...o });
  return { metrics, clock, sampler, setSessions: (n: number) => (sessions = n) };
}

/** Times one request of `ms` milliseconds (tunnel round trip ms/2) through the real histograms. */
function timed(m: GatewayMetrics, ms: number): void {
  m.observeSample({ index: 1, service: 'player', received: 0, forwarded: 0 }, ms / 2, ms);
}

describe('dashboard sampler', () => {
  it('quantile interpolates within buckets like histogram_quantile, null when empty, last finite bound for +Inf', () => {
    const le = [0.001, 0.01, 0.1, Infinity];
    assert.equal(quantile(0.5, { le, counts: [0, 0, 0, 0] }), null);
    // 10 observations, all in (0.001, 0.01]: the median is halfway through that bucket.
    assert.ok(Math.abs(quantile(0.5, { le, counts: [0, 10, 10, 10] })! - 0.0055) < 1e-12);
    // 90 in the first bucket, 10 in the second: p99 is 90 % into the second bucket.
    assert.ok(Math.abs(quantile(0.99, { le, counts: [90, 100, 100, 100] })! - (0.001 + 0.009 * 0.9)) < 1e-12);
    assert.equal(quantile(0.99, { le, counts: [0, 0, 1, 100] }), 0.1);
  });

  it('connections, sessions, msgs/s and errors/s between samples; per-module rates; error events', async () => {
    const { metrics, clock, sampler, setSessions } = setup();
    await sampler.sample();
    let snap = sampler.snapshot();
    assert.equal(snap.samples.length, 1);
    assert.deepEqual([snap.samples[0]!.connections, snap.samples[0]!.msgsPerS, snap.samples[0]!.p50Ms], [0, 0, null]);
    assert.deepEqual(snap.errors, []);

    metrics.connectionOpened('tcp');
    metrics.connectionOpened('tcp');
    metrics.connectionOpened('ws');
    setSessions(2);
    for (let i = 0; i < 30; i++) metrics.countRequest(3); // player
    for (let i = 0; i < 10; i++) metrics.countRequest(4); // room
    metrics.countRequest(999); // unknown
    metrics.errors.no_route.n += 3;
    metrics.handshakeFailures.token_expired.n++;
    clock.advance(2000);
    await sampler.sample();
    snap = sampler.snapshot();
    const s = snap.samples[1]!;
    assert.deepEqual([s.connections, s.tcp, s.ws, s.sessions], [3, 2, 1, 2]);
    assert.equal(s.t, 1_700_000_002_000);
    assert.equal(s.msgsPerS, 41 / 2);
    assert.equal(s.errorsPerS, 4 / 2);
    assert.deepEqual(
      snap.errors.map((e) => [e.kind, e.type, e.count, e.t]),
      [
        ['error', 'no_route', 3, 1_700_000_002_000],
        ['handshake', 'token_expired', 1, 1_700_000_002_000],
      ],
    );
    const mod = (name: string) => snap.modules.find((m) => m.name === name);
    assert.deepEqual(mod('player'), { name: 'player', total: 30, perS: 15 });
    assert.deepEqual(mod('room'), { name: 'room', total: 10, perS: 5 });
    assert.deepEqual(mod('unknown'), { name: 'unknown', total: 1, perS: 0.5 });
    assert.equal(snap.gateway, 'gw-test');
    assert.equal(snap.backends[0]!.instances[0]!.id, 'p-1');
    // Nothing new: no new error event, zero rates.
    clock.advance(1000);
    await sampler.sample();
    snap = sampler.snapshot();
    assert.equal(snap.errors.length, 2);
    assert.deepEqual([snap.samples[2]!.msgsPerS, snap.samples[2]!.errorsPerS], [0, 0]);
  });

  it('latency percentiles cover the last window of samples only', async () => {
    const { metrics, clock, sampler } = setup({ windowSamples: 2 });
    await sampler.sample();
    for (let i = 0; i < 100; i++) timed(metrics, 200); // in (0.1, 0.25] s
    clock.advance(1000);
    await sampler.sample();
    let s = sampler.snapshot().samples.at(-1)!;
    assert.ok(s.p50Ms! > 100 && s.p50Ms! <= 250, `p50 ${s.p50Ms}`);
    assert.ok(s.p99Ms! >= s.p90Ms! && s.p90Ms! >= s.p50Ms!);
    // Fast requests from now on: once the slow ones left the 2-sample window, p99 is small.
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 100; i++) timed(metrics, 0.8); // in (0.0005, 0.001] s
      clock.advance(1000);
      await sampler.sample();
    }
    s = sampler.snapshot().samples.at(-1)!;
    assert.ok(s.p99Ms! <= 1, `p99 ${s.p99Ms}`);
    assert.ok(s.processingP99Ms !== null && s.processingP99Ms <= 1);
    // No timed request in the window: no percentile.
    clock.advance(1000);
    await sampler.sample();
    clock.advance(1000);
    await sampler.sample();
    assert.equal(sampler.snapshot().samples.at(-1)!.p50Ms, null);
  });

  it('keeps at most `capacity` samples, and samples every interval of the clock once started until closed', async () => {
    const { clock, sampler } = setup({ capacity: 5 });
    sampler.start();
    await sampler.sample(); // the first tick's sample (already under way) settles
    for (let i = 0; i < 7; i++) {
      clock.advance(1000);
      await sampler.sample();
    }
    const snap = sampler.snapshot();
    assert.equal(snap.samples.length, 5);
    assert.equal(snap.capacity, 5);
    assert.deepEqual(
      snap.samples.map((s) => s.t - 1_700_000_000_000),
      [3000, 4000, 5000, 6000, 7000],
    );
    sampler.close();
    clock.advance(5000);
    await sampler.sample();
    // Only the explicit sample: the timer is gone.
    assert.deepEqual(
      sampler.snapshot().samples.map((s) => s.t - 1_700_000_000_000),
      [4000, 5000, 6000, 7000, 12000],
    );
  });
});
