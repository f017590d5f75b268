/**
 * The gateway's Prometheus metrics (prom-client), one registry per gateway (no global
 * state: tests run many gateways in one process). Every metric, its labels and when it
 * moves: docs/operations.md.
 *
 * Design, for the hot path: prom-client's labelled `inc()` hashes its label object on every
 * call, so per-message counting never calls prom-client. The data path bumps plain numbers
 * ({@link Tally}) bound to their label set once, at construction (an array index by module
 * id, a field per error type); each prom-client metric copies them in its `collect()` at
 * scrape time. Latency histograms time one request in `metrics.latencySampleEvery`
 * (performance.now() only for that one), so an unsampled request costs one decrement.
 * Labels are bounded sets named by the code or the config (module and service names,
 * reasons, transports): never a uid, an address or a token.
 */
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SCServerLogout_Code } from '@janus/protocol';
import type { GatewayConfig } from '../config.js';

/** A counter the data path bumps: `t.n++` (read by the registry at scrape time). */
export class Tally {
  n = 0;
}

/** Why a connection was turned away at accept (ServerLogout Waiting before any handshake). */
export const REFUSAL_REASONS = ['shutting_down', 'max_connections', 'max_connections_per_address', 'handshake_rate'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * Why a connection ended (the `reason` label of janus_disconnects_total and the close log
 * line). With a ServerLogout (`logout` label: its code name) or without one (`none`).
 */
export const DISCONNECT_REASONS = [
  /** The client closed or reset the socket. */
  'peer_closed',
  /** Malformed frame, Packet, record, index or System message, or an inflate over its limit: destroyed. */
  'bad_input',
  /** No CSHandshake or CSAuth within timeouts.handshakeMs. */
  'handshake_timeout',
  /** No frame within timeouts.idleMs. */
  'idle_timeout',
  /** CSHandshake failed the 7.2 checks (BadVersion, Unauthorized, ClockSkew). */
  'handshake_refused',
  /** The token did not open, had expired, or named another server id. */
  'auth_refused',
  /** A newer login of the same uid on this gateway, or on another one (its kick on this gateway's push channel). */
  'conflicting_login',
  /** Kicked through the push API (PushService.kick: a backend, the cluster push channel). */
  'kicked',
  /** The login could not be recorded: the route table or push bus (Redis) is unreachable. */
  'route_table_unavailable',
  /** CSAuth to SCAuth took longer than timeouts.loginMs. */
  'login_deadline',
  /** No player instance for the session's color, or its stream failed at once. */
  'no_player_backend',
  /** The player stream ended after login (backend gone, keepalive, its own end). */
  'player_tunnel_ended',
  /** More than limits.sendQueueBytes unsent. */
  'slow_consumer',
  /** The server-to-client record counter reached its last number. */
  'record_limit',
  /** Too many over-limit messages in one second. */
  'rate_limited',
  /** The gateway is shutting down. */
  'shutdown',
  /** An unexpected failure in the gateway (logged at error). */
  'internal',
] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

/** How the socket ended: FIN after a flush, destroyed at once, or closed by the peer. */
export type CloseKind = 'end' | 'destroy' | 'peer';

/** Why a handshake or login (CSHandshake to SCAuth) failed. */
export const HANDSHAKE_FAILURES = [
  'bad_version',
  'unauthorized',
  'clock_skew',
  'malformed',
  'timeout',
  'token_invalid',
  'token_expired',
  'server_id_mismatch',
  'no_player_backend',
  'login_deadline',
] as const;
export type HandshakeFailure = (typeof HANDSHAKE_FAILURES)[number];

/**
 * Error types (janus_errors_total{type}): requests answered ServerUnexpectedErr, and bad
 * input that closed a connection (by JanusError code, lower case without the prefix).
 */
export const ERROR_TYPES = [
  'rate_limited',
  'no_route',
  'no_instance',
  'tunnel_open_failed',
  'tunnel_failed',
  'too_many_object_tunnels',
  'player_tunnel_closed',
  'reply_too_large',
  'frame_empty',
  'frame_too_large',
  'packet_malformed',
  'record_open',
  'record_limit',
  'index_mismatch',
  'inflate',
  'unexpected_message',
  'handshake_zero_shared',
  /** A WebSocket protocol error reported by ws (bad frame, bad UTF-8 close reason, ...). */
  'ws_protocol',
  'internal',
] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

/** Maps a JanusError code that closes a connection to its error type. */
export function errorTypeOfCode(code: string): ErrorType {
  const t = code.replace(/^JANUS_ERR_/, '').toLowerCase();
  return (ERROR_TYPES as readonly string[]).includes(t) ? (t as ErrorType) : 'internal';
}

/** What the metrics read from the gateway at scrape time. */
export interface MetricsSources {
  /** Logged-in sessions now. */
  sessions(): number;
  /** Wire bytes of the live connections so far, by transport. */
  liveBytes(): Record<'tcp' | 'ws', { read: number; written: number }>;
  /** Open tunnel streams by service name. */
  openTunnels(): ReadonlyMap<string, number>;
}

const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const PROCESSING_BUCKETS = [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

type Transport = 'tcp' | 'ws';

/** A request being timed: the moments of PROTOCOL.md 8's round trip, in ms (performance.now()). */
export interface LatencySample {
  /** The request's index (its reply carries the same). */
  index: number;
  service: string;
  /** Processing began (record open) / the request was written to its tunnel. */
  received: number;
  forwarded: number;
}

/** One gateway's metrics. */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Accepted connections by transport (janus_connections_accepted_total). */
  readonly accepted: Record<Transport, Tally> = { tcp: new Tally(), ws: new Tally() };
  readonly refused = tallies(REFUSAL_REASONS);
  readonly handshakeFailures = tallies(HANDSHAKE_FAILURES);
  readonly errors = tallies(ERROR_TYPES);
  readonly logins = new Tally();
  /** Server-initiated messages (index 0) a backend sent, and those written to the client. */
  readonly pushesAttempted = new Tally();
  readonly pushesDelivered = new Tally();
  private readonly active: Record<Transport, number> = { tcp: 0, ws: 0 };
  private peak = 0;
  private readonly closedBytes: Record<Transport, { read: number; written: number }> = { tcp: { read: 0, written: 0 }, ws: { read: 0, written: 0 } };
  private readonly disconnects = new Map<string, { labels: { reason: string; logout: string; close: string }; tally: Tally }>();
  /** Requests by module id (index), each the tally of its module name. */
  private readonly byMod: Tally[];
  private readonly unknownModule = new Tally();
  private readonly moduleTallies = new Map<string, Tally>();
  private readonly sampleEvery: number;
  private countdown: number;
  private readonly requestDuration: Histogram;
  private readonly processing: Histogram;
  private readonly roundtrip = new Map<string, { observe(v: number): void }>();
  private readonly sources: MetricsSources;

  /**
   * @param cfg the module table and services (label sets), metrics.* settings.
   * @param sources what is read at scrape time.
   */
  constructor(cfg: Pick<GatewayConfig, 'modules' | 'services' | 'metrics'>, sources: MetricsSources) {
    const reg = this.registry;
    this.sources = sources;
    this.sampleEvery = cfg.metrics.latencySampleEvery;
    this.countdown = this.sampleEvery;

    this.moduleTallies.set('system', new Tally());
    let maxMod = 1;
    for (const [mod, m] of Object.entries(cfg.modules)) {
      maxMod = Math.max(maxMod, Number(mod));
      if (!this.moduleTallies.has(m.name)) this.moduleTallies.set(m.name, new Tally());
    }
    // A packed array of tallies (unknown ids share one), indexed by module id.
    this.byMod = Array.from({ length: Math.min(maxMod, 65535) + 1 }, () => this.unknownModule);
    this.byMod[1] = this.moduleTallies.get('system')!;
    for (const [mod, m] of Object.entries(cfg.modules)) if (Number(mod) < this.byMod.length) this.byMod[Number(mod)] = this.moduleTallies.get(m.name)!;

    const active = this.active;
    new Gauge({
      name: 'janus_connections_active',
      help: 'Client connections open now, by transport.',
      labelNames: ['transport'],
      registers: [reg],
      collect() {
        this.set({ transport: 'tcp' }, active.tcp);
        this.set({ transport: 'ws' }, active.ws);
      },
    });
    const peak = (): number => this.peak;
    new Gauge({
      name: 'janus_connections_peak',
      help: 'Most client connections open at once since the gateway started.',
      registers: [reg],
      collect() {
        this.set(peak());
      },
    });
    new Gauge({
      name: 'janus_sessions_active',
      help: 'Logged-in sessions now (past SCAuth).',
      registers: [reg],
      collect() {
        this.set(sources.sessions());
      },
    });
    counter(reg, 'janus_connections_accepted_total', 'Client connections accepted (admitted to the handshake), by transport.', ['transport'], () => [
      [{ transport: 'tcp' }, this.accepted.tcp.n],
      [{ transport: 'ws' }, this.accepted.ws.n],
    ]);
    counter(reg, 'janus_connections_refused_total', 'Client connections turned away at accept with ServerLogout Waiting, by reason.', ['reason'], () =>
      REFUSAL_REASONS.map((r) => [{ reason: r }, this.refused[r].n]),
    );
    counter(
      reg,
      'janus_disconnects_total',
      'Client connections closed, by reason, ServerLogout code (none: no ServerLogout) and how the socket ended (end, destroy, peer).',
      ['reason', 'logout', 'close'],
      () => [...this.disconnects.values()].map((d) => [d.labels, d.tally.n]),
    );
    counter(reg, 'janus_logins_total', 'Logins completed (SCAuth sent).', [], () => [[{}, this.logins.n]]);
    counter(reg, 'janus_handshake_failures_total', 'Handshakes and logins (CSHandshake to SCAuth) that failed, by reason.', ['reason'], () =>
      HANDSHAKE_FAILURES.map((r) => [{ reason: r }, this.handshakeFailures[r].n]),
    );
    counter(reg, 'janus_requests_total', 'Client Packets processed after login, by module name (system: heartbeats; unknown: an id not in the module table).', ['module'], () => [
      ...[...this.moduleTallies].map(([name, t]) => [{ module: name }, t.n] as const),
      [{ module: 'unknown' }, this.unknownModule.n],
    ]);
    counter(reg, 'janus_errors_total', 'Errors by type: requests answered ServerUnexpectedErr, and bad input that closed a connection.', ['type'], () =>
      ERROR_TYPES.map((t) => [{ type: t }, this.errors[t].n]),
    );
    counter(reg, 'janus_pushes_attempted_total', 'Server-initiated messages (index 0) backends sent to clients.', [], () => [[{}, this.pushesAttempted.n]]);
    counter(reg, 'janus_pushes_delivered_total', 'Server-initiated messages written to the client connection.', [], () => [[{}, this.pushesDelivered.n]]);
    const bytes = (kind: 'read' | 'written'): [Record<string, string>, number][] => {
      const live = sources.liveBytes();
      return (['tcp', 'ws'] as const).map((t) => [{ transport: t }, this.closedBytes[t][kind] + live[t][kind]]);
    };
    counter(reg, 'janus_received_bytes_total', 'Bytes read from client sockets (wire bytes, framing included), by transport.', ['transport'], () => bytes('read'));
    counter(reg, 'janus_sent_bytes_total', 'Bytes written to client sockets (wire bytes, framing included), by transport.', ['transport'], () => bytes('written'));
    const services = Object.keys(cfg.services);
    new Gauge({
      name: 'janus_tunnels_open',
      help: 'Backend tunnel streams open now, by service.',
      labelNames: ['service'],
      registers: [reg],
      collect() {
        const open = sources.openTunnels();
        this.reset();
        for (const s of services) this.set({ service: s }, open.get(s) ?? 0);
      },
    });
    this.requestDuration = new Histogram({
      name: 'janus_request_duration_seconds',
      help: `Client request to its backend reply, as the gateway sees it: record open to the reply handed to the client socket (one request in ${this.sampleEvery} timed).`,
      buckets: REQUEST_BUCKETS,
      registers: [reg],
    });
    this.processing = new Histogram({
      name: 'janus_gateway_processing_seconds',
      help: `Time the gateway itself spends on a request and its reply (request duration minus the tunnel round trip; one request in ${this.sampleEvery} timed).`,
      buckets: PROCESSING_BUCKETS,
      registers: [reg],
    });
    const rt = new Histogram({
      name: 'janus_tunnel_roundtrip_seconds',
      help: `Request written to its tunnel to the reply read from it, by service (one request in ${this.sampleEvery} timed).`,
      labelNames: ['service'],
      buckets: REQUEST_BUCKETS,
      registers: [reg],
    });
    for (const s of services) {
      rt.zero({ service: s });
      this.roundtrip.set(s, rt.labels(s));
    }
    if (cfg.metrics.processMetrics) {
      collectDefaultMetrics({ register: reg });
      // Gauges named *_total break the Prometheus naming rule (promtool check metrics says so);
      // the same counts are in nodejs_active_handles / _requests / _resources by type.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) reg.removeSingleMetric(name);
    }
  }

  /** Counts a client Packet of module `mod` (per message: an array index and an add). */
  countRequest(mod: number): void {
    (mod >= 0 && mod < this.byMod.length ? this.byMod[mod]! : this.unknownModule).n++;
  }

  /** Whether to time the request being processed (one in latencySampleEvery). */
  sampleNext(): boolean {
    if (--this.countdown !== 0) return false;
    this.countdown = this.sampleEvery;
    return true;
  }

  /** High-resolution now for a sample (ms). */
  now(): number {
    return performance.now();
  }

  /**
   * Records a timed request whose reply arrived from its tunnel at `replyIn` and was handed
   * to the client's transport at `replyOut` (ms, performance.now()).
   */
  observeSample(s: LatencySample, replyIn: number, replyOut: number): void {
    this.requestDuration.observe((replyOut - s.received) / 1000);
    this.processing.observe((s.forwarded - s.received + (replyOut - replyIn)) / 1000);
    this.roundtrip.get(s.service)?.observe((replyIn - s.forwarded) / 1000);
  }

  /** A connection was admitted. */
  connectionOpened(transport: Transport): void {
    this.accepted[transport].n++;
    const n = ++this.active[transport];
    const total = n + this.active[transport === 'tcp' ? 'ws' : 'tcp'];
    if (total > this.peak) this.peak = total;
  }

  /** Adds the final byte counts of a socket that had no connection (turned away at accept). */
  addClosedBytes(transport: Transport, bytes: { read: number; written: number }): void {
    this.closedBytes[transport].read += bytes.read;
    this.closedBytes[transport].written += bytes.written;
  }

  /** A connection closed: why, and its final byte counts. */
  connectionClosed(transport: Transport, bytes: { read: number; written: number }, reason: DisconnectReason, logout: SCServerLogout_Code | null, close: CloseKind): void {
    this.active[transport]--;
    this.addClosedBytes(transport, bytes);
    const logoutName = logout === null ? 'none' : (SCServerLogout_Code[logout] ?? String(logout));
    const key = `${reason}|${logoutName}|${close}`;
    let d = this.disconnects.get(key);
    if (!d) this.disconnects.set(key, (d = { labels: { reason, logout: logoutName, close }, tally: new Tally() }));
    d.tally.n++;
  }

  /**
   * The cumulative counts the dashboard sampler reads once a second (sampler.ts): plain
   * reads of the tallies, no prom-client call and no pass over the connections.
   */
  counts(): MetricCounts {
    let requests = this.unknownModule.n;
    const modules: [string, number][] = [];
    for (const [name, t] of this.moduleTallies) {
      requests += t.n;
      modules.push([name, t.n]);
    }
    modules.push(['unknown', this.unknownModule.n]);
    return {
      connections: { tcp: this.active.tcp, ws: this.active.ws },
      sessions: this.sources.sessions(),
      requests,
      modules,
      errors: ERROR_TYPES.map((t) => [t, this.errors[t].n]),
      handshakeFailures: HANDSHAKE_FAILURES.map((r) => [r, this.handshakeFailures[r].n]),
      refused: REFUSAL_REASONS.map((r) => [r, this.refused[r].n]),
      openTunnels: this.sources.openTunnels(),
    };
  }

  /**
   * The cumulative bucket counts of janus_request_duration_seconds and
   * janus_gateway_processing_seconds (prom-client's own values, read at sample time).
   */
  async latencyBuckets(): Promise<{ request: HistogramBuckets; processing: HistogramBuckets }> {
    return { request: await buckets(this.requestDuration), processing: await buckets(this.processing) };
  }

  /** The Prometheus text exposition (content type: {@link contentType}). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A histogram's cumulative buckets: upper bounds (s, ascending, +Inf last) and counts. */
export interface HistogramBuckets {
  le: number[];
  counts: number[];
}

/** Cumulative counts of {@link GatewayMetrics.counts} (each pair: label value, count). */
export interface MetricCounts {
  connections: Record<Transport, number>;
  sessions: number;
  /** Client Packets processed after login, every module (janus_requests_total summed). */
  requests: number;
  /** janus_requests_total by module name (system and unknown included). */
  modules: [string, number][];
  errors: [ErrorType, number][];
  handshakeFailures: [HandshakeFailure, number][];
  refused: [RefusalReason, number][];
  /** Open tunnel streams by service name. */
  openTunnels: ReadonlyMap<string, number>;
}

async function buckets(h: Histogram): Promise<HistogramBuckets> {
  const le: number[] = [];
  const counts: number[] = [];
  for (const v of (await h.get()).values) {
    if (!(v as { metricName?: string }).metricName?.endsWith('_bucket')) continue;
    const bound = v.labels.le;
    le.push(bound === '+Inf' ? Infinity : Number(bound));
    counts.push(v.value);
  }
  return { le, counts };
}

function tallies<K extends string>(keys: readonly K[]): Record<K, Tally> {
  return Object.fromEntries(keys.map((k) => [k, new Tally()])) as Record<K, Tally>;
}

/** A prom-client counter whose values are read from `values()` at scrape time. */
function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  values: () => Iterable<readonly [Record<string, string>, number]>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values()) {
        if (labelNames.length === 0) this.inc(v);
        else this.inc(labels, v);
      }
    },
  });
}
