/**
 * The dashboard's sampler: once a second (through the Clock port) it reads the gateway's
 * cumulative metric counts and latency histograms and keeps the last minutes of samples in
 * a ring buffer, which `GET /stats/dashboard` answers (docs/operations.md, "Dashboard").
 *
 * Nothing here runs per message: the data path bumps the same tallies the Prometheus
 * metrics read (metrics.ts), and the sampler reads them at sample time. Everything it keeps
 * is aggregate (counts, rates, percentiles, service and instance ids): no uid, no client or
 * backend address, no token (docs/decisions/0021-dashboard.md).
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { GatewayMetrics, HistogramBuckets, MetricCounts } from './metrics.js';

/** One second of the gateway, as the dashboard's charts show it. */
export interface DashboardSample {
  /** Wall time of the sample (ms since the epoch). */
  t: number;
  /** Client connections open (all transports), and by transport. */
  connections: number;
  tcp: number;
  ws: number;
  /** Logged-in sessions. */
  sessions: number;
  /** Client Packets processed per second since the previous sample (janus_requests_total's rate). */
  msgsPerS: number;
  /** Errors per second since the previous sample (janus_errors_total, handshake failures and refusals at accept). */
  errorsPerS: number;
  /**
   * Percentiles (ms) of janus_request_duration_seconds over the last `windowS` seconds,
   * interpolated within buckets as Prometheus' histogram_quantile does; null with no timed
   * request in the window.
   */
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  /** p99 (ms) of janus_gateway_processing_seconds over the same window, or null. */
  processingP99Ms: number | null;
}

/** A backend service and its instances (no addresses: /stats/routes, admin, has those). */
export interface DashboardBackend {
  service: string;
  discoveryName: string;
  tunnelsOpen: number;
  instances: { id: string; color: string; weight: number; tunnelsOpen: number }[];
}

/** One error event seen between two samples. */
export interface DashboardError {
  /** Wall time of the sample that saw it (ms). */
  t: number;
  /** `error` (janus_errors_total{type}), `handshake` (janus_handshake_failures_total{reason}) or `refused` (janus_connections_refused_total{reason}). */
  kind: 'error' | 'handshake' | 'refused';
  type: string;
  /** How many since the previous sample. */
  count: number;
}

/** The answer of GET /stats/dashboard. */
export interface DashboardSnapshot {
  gateway: string;
  /** Sampling interval (ms), ring capacity (samples) and percentile window (s). */
  intervalMs: number;
  capacity: number;
  windowS: number;
  /** Wall time of the answer (ms). */
  now: number;
  /** Oldest first. */
  samples: DashboardSample[];
  /** Per module name: Packets since start, and per second over the last `windowS` seconds. */
  modules: { name: string; total: number; perS: number }[];
  backends: DashboardBackend[];
  /** The latest error events, newest last (at most {@link MAX_ERROR_EVENTS}). */
  errors: DashboardError[];
}

/** Options of {@link DashboardSampler}. */
export interface SamplerOptions {
  gatewayId: string;
  /** Sampling interval (ms). Default 1000. */
  intervalMs?: number;
  /** Samples kept (default 300: five minutes at 1 s). */
  capacity?: number;
  /** Samples the percentiles and per-module rates span (default 10). */
  windowSamples?: number;
}

/** Error events kept for the dashboard's "recent errors" list. */
export const MAX_ERROR_EVENTS = 100;

/** What the sampler keeps of one sample beyond its public figures: cumulative counts. */
interface Cumulative {
  mono: number;
  requests: number;
  modules: Map<string, number>;
  events: Map<string, number>;
  request: HistogramBuckets;
  processing: HistogramBuckets;
}

/**
 * Takes a sample every `intervalMs` of the clock once {@link start}ed and keeps the last
 * `capacity` of them.
 */
export class DashboardSampler {
  private readonly intervalMs: number;
  private readonly capacity: number;
  private readonly windowSamples: number;
  private readonly samples: DashboardSample[] = [];
  private readonly cumulative: Cumulative[] = [];
  private readonly errors: DashboardError[] = [];
  private timer: TimerHandle | null = null;
  private pending: Promise<void> | null = null;
  private closed = false;

  /**
   * @param metrics the gateway's metrics (read at sample time only).
   * @param backends the services and their instances with open tunnels, now.
   */
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly clock: Clock,
    private readonly backends: () => DashboardBackend[],
    private readonly o: SamplerOptions,
  ) {
    this.intervalMs = o.intervalMs ?? 1000;
    this.capacity = o.capacity ?? 300;
    this.windowSamples = o.windowSamples ?? 10;
  }

  /** Takes a first sample now and one every interval after it, until {@link close}. */
  start(): void {
    if (this.timer || this.closed) return;
    const tick = (): void => {
      if (this.closed) return;
      this.timer = this.clock.setTimeout(tick, this.intervalMs);
      void this.sample();
    };
    tick();
  }

  /** Takes one sample now (a sample still being read is awaited instead of starting another). */
  sample(): Promise<void> {
    this.pending ??= this.take().finally(() => (this.pending = null));
    return this.pending;
  }

  private async take(): Promise<void> {
    const c: MetricCounts = this.metrics.counts();
    const lat = await this.metrics.latencyBuckets();
    const mono = this.clock.monotonic();
    const t = this.clock.now();
    const events = new Map<string, number>();
    for (const [k, n] of c.errors) events.set(`error:${k}`, n);
    for (const [k, n] of c.handshakeFailures) events.set(`handshake:${k}`, n);
    for (const [k, n] of c.refused) events.set(`refused:${k}`, n);
    const cur: Cumulative = { mono, requests: c.requests, modules: new Map(c.modules), events, request: lat.request, processing: lat.processing };
    const prev = this.cumulative.at(-1);
    const base = this.windowStart(this.cumulative.length);
    const dt = prev ? Math.max(mono - prev.mono, 1) / 1000 : 0;
    let errorCount = 0;
    for (const [key, n] of events) {
      const d = n - (prev?.events.get(key) ?? 0);
      if (!prev || d <= 0) continue;
      errorCount += d;
      const [kind, type] = key.split(':') as [DashboardError['kind'], string];
      this.errors.push({ t, kind, type, count: d });
    }
    if (this.errors.length > MAX_ERROR_EVENTS) this.errors.splice(0, this.errors.length - MAX_ERROR_EVENTS);
    const req = base ? diff(lat.request, base.request) : lat.request;
    const proc = base ? diff(lat.processing, base.processing) : lat.processing;
    this.push(cur, {
      t,
      connections: c.connections.tcp + c.connections.ws,
      tcp: c.connections.tcp,
      ws: c.connections.ws,
      sessions: c.sessions,
      msgsPerS: prev ? round((c.requests - prev.requests) / dt) : 0,
      errorsPerS: prev ? round(errorCount / dt) : 0,
      p50Ms: ms(quantile(0.5, req)),
      p90Ms: ms(quantile(0.9, req)),
      p99Ms: ms(quantile(0.99, req)),
      processingP99Ms: ms(quantile(0.99, proc)),
    });
  }

  /**
   * Where the window of the sample at index `end` of the ring starts: `windowSamples`
   * samples before it, or the oldest kept while fewer are kept (undefined when none is).
   */
  private windowStart(end: number): Cumulative | undefined {
    return end >= this.windowSamples ? this.cumulative[end - this.windowSamples] : this.cumulative[0];
  }

  private push(cur: Cumulative, s: DashboardSample): void {
    this.cumulative.push(cur);
    this.samples.push(s);
    if (this.samples.length > this.capacity) {
      this.samples.shift();
      this.cumulative.shift();
    }
  }

  /** The ring, per-module rates, backends and recent errors (JSON-safe). */
  snapshot(): DashboardSnapshot {
    const last = this.cumulative.at(-1);
    const base = this.windowStart(this.cumulative.length - 1);
    const span = last && base && last !== base ? (last.mono - base.mono) / 1000 : 0;
    const modules = last
      ? [...last.modules].map(([name, total]) => ({ name, total, perS: span > 0 ? round((total - (base!.modules.get(name) ?? 0)) / span) : 0 }))
      : [];
    return {
      gateway: this.o.gatewayId,
      intervalMs: this.intervalMs,
      capacity: this.capacity,
      windowS: (this.windowSamples * this.intervalMs) / 1000,
      now: this.clock.now(),
      samples: [...this.samples],
      modules,
      backends: this.backends(),
      errors: [...this.errors],
    };
  }

  /** Stops sampling. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Bucket counts of `a` minus those of `b` (same bounds). */
function diff(a: HistogramBuckets, b: HistogramBuckets): HistogramBuckets {
  return { le: a.le, counts: a.counts.map((n, i) => n - (b.counts[i] ?? 0)) };
}

/**
 * The q-quantile (0..1) of cumulative buckets, interpolated linearly within the bucket that
 * holds it (Prometheus' histogram_quantile); the highest finite bound when it falls in
 * +Inf; null when the buckets hold no observation.
 */
export function quantile(q: number, h: HistogramBuckets): number | null {
  const total = h.counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < h.counts.length; i++) {
    if (h.counts[i]! < rank) continue;
    const upper = h.le[i]!;
    if (upper === Infinity) return h.le[i - 1] ?? null;
    const lower = i === 0 ? 0 : h.le[i - 1]!;
    const below = i === 0 ? 0 : h.counts[i - 1]!;
    const inBucket = h.counts[i]! - below;
    return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
  }
  return h.le.at(-2) ?? null;
}

const ms = (s: number | null): number | null => (s === null ? null : Math.round(s * 1e6) / 1000);
const round = (n: number): number => Math.round(n * 10) / 10;
