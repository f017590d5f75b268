/**
 * One load run: the demo backend and the gateway each in their own child process, the
 * clients in this one, a warmup, a measured window, then everything stopped (also on
 * error or abort). Why three processes: docs/decisions/0004-load-bench.md.
 */
import { startOtlpSink, type OtlpSink, type OtlpSinkCounts } from './otlp-sink.js';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { JanusClient } from '@janus/client';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { GatewayConfigInput } from '@janus/gateway';
import { BenchChild } from './child.js';
import { closeClients, connectClients, driveClosedLoop, LoadCounters, type ErrorCounts } from './clients.js';
import type { LatencySummary } from './histogram.js';
import { GATEWAY_CONFIG_ENV, type ProcessUsage } from './ipc.js';
import { makeBenchKeys } from './keys.js';

/** Options of one run. */
export interface LoadOptions {
  /** Client sessions, each running its own closed loop. */
  connections: number;
  /** Measured window (s). */
  durationS: number;
  /** Load before the window, not counted (s). */
  warmupS: number;
  transport: 'tcp' | 'ws';
  /** Echo request data size (bytes). */
  sizeBytes: number;
  /** Connects in flight at once during setup. */
  setupConcurrency: number;
  /** When set, the gateway child runs with `--cpu-prof` and writes its profile here. */
  gatewayCpuProfDir?: string;
  /** Tracing on in the gateway (every request sampled), exporting to a stand-in collector in this process (otlp-sink.ts). */
  tracing?: boolean;
  /** Receives progress lines and the children's output. Default: ignored. */
  log?: (line: string) => void;
}

/**
 * The gateway limits the bench raises (limits.messagesPerSecond, messageBurst and the
 * handshake rates): far above what one closed-loop connection, or the bench's setup of
 * thousands of sessions from 127.0.0.1, reaches, so the bench measures throughput and not
 * the limiters. Every other setting is the default.
 */
/**
 * The Node flags every gateway child runs with: the ones docs/gateway.md recommends for a
 * gateway ("V8 settings"): a young generation of at most 4 MB, so that a scavenge, which
 * costs about a microsecond per dead cipher object (two per record), pauses the event loop
 * for about a millisecond rather than 5 to 15.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

export const BENCH_RATE_LIMIT = { messagesPerSecond: 100000, messageBurst: 100000, handshakesPerSecond: 100000, handshakesPerSecondPerAddress: 100000 } as const;

/** CPU and memory of one process over the measured window. */
export interface ProcessFigures {
  /** (user + system CPU seconds) per wall second over the window: cores used. */
  cpuCores: number;
  /** Event loop utilization over the window (0..1); 1 = the main thread never idled. */
  eventLoopUtilization: number;
  /** Peak resident set size since the process started (MB, 2^20 bytes). */
  rssPeakMB: number;
  /** Resident set size at the end of the window (MB). */
  rssEndMB: number;
  /** V8 heap in use at the end of the window (MB). */
  heapUsedEndMB: number;
}

/** What one run measured. Times in ms unless named otherwise. */
export interface LoadResult {
  transport: 'tcp' | 'ws';
  /** Sessions asked for. */
  connections: number;
  /** Sessions that opened. */
  connected: number;
  sizeBytes: number;
  warmupS: number;
  /** Actual length of the measured window (s). */
  windowS: number;
  /** Replies per second over the window. */
  msgsPerSec: number;
  /** Replies in the window. */
  replies: number;
  /** Round-trip latency of the window's replies. */
  latency: LatencySummary;
  gateway: ProcessFigures;
  backend: ProcessFigures;
  /** The load generator (this process): cores used over the window. */
  loadgenCpuCores: number;
  /**
   * Every process on the machine: busy cores over the window (os.cpus() times). Much more
   * than gateway + backend + load gen means something else competed for the cores.
   */
  machineCpuCores: number;

  /** Wall time to open every session. */
  setupMs: number;
  /** Failed connects by error code. */
  connectFailures: ErrorCounts;
  firstConnectFailure?: string;
  /** Failed requests by error code (warmup, window and wind-down). */
  requestErrors: ErrorCounts;
  firstRequestError?: string;
  /** Echo replies whose data differed from the request's. */
  mismatches: number;
  /** Connections that closed during the run. */
  closedConnections: number;
  /** The gateway rate limit used (see BENCH_RATE_LIMIT). */
  gatewayLimits: typeof BENCH_RATE_LIMIT;
  /** With --tracing: what the stand-in collector received over the whole run; null: tracing off. */
  tracing: OtlpSinkCounts | null;
  /** `git describe --always --dirty` of the working tree, or `unknown`. */
  commit: string;
  node: string;
  cpuCount: number;
  cpuModel: string;
}

/**
 * The gateway config of a run: loopback listeners on free ports, the run's keys, the
 * backend as the only instance of both services, {@link BENCH_RATE_LIMIT}; all else default
 * (encrypted, info logging).
 */
export function benchGatewayConfig(keysDir: string, backendPort: number): GatewayConfigInput {
  const instances = [{ id: 'demo-1', endpoints: [`grpc://127.0.0.1:${backendPort}`] }];
  return {
    listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 } },
    keys: { dir: keysDir },
    discovery: { static: { 'roma.player.service': instances, 'roma.room.service': instances } },
    limits: { ...BENCH_RATE_LIMIT },
    // A free port: several gateways of a comparison run at once.
    management: { host: '127.0.0.1', port: 0 },
  };
}

const MB = 1024 * 1024;

/** The code measured: `git describe --always --dirty`, or `unknown` outside a git checkout. */
export function describeCommit(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return 'unknown';
  }
}

/** Busy CPU time of the whole machine so far (ms, summed over cores). */
export function machineBusyMs(): number {
  let busy = 0;
  for (const c of cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}
const CHILD_STOP_MS = 15000;
const CLOSE_CONCURRENCY = 200;

/** CPU, event loop and memory figures of a process between two usage samples `a` and `b`. */
export function processFigures(a: ProcessUsage, b: ProcessUsage): ProcessFigures {
  const wallUs = Number(BigInt(b.atNs) - BigInt(a.atNs)) / 1000;
  const cpuUs = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
  const idle = b.elu.idle - a.elu.idle;
  const active = b.elu.active - a.elu.active;
  return {
    cpuCores: wallUs > 0 ? cpuUs / wallUs : 0,
    eventLoopUtilization: idle + active > 0 ? active / (idle + active) : 0,
    rssPeakMB: b.maxRssBytes / MB,
    rssEndMB: b.rssBytes / MB,
    heapUsedEndMB: b.heapUsedBytes / MB,
  };
}

/** `size` bytes of a fixed, non-constant pattern (so an echo that mangles bytes is caught). */
function patternPayload(size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

/**
 * Runs the bench once.
 * @param signal aborting (e.g. on SIGINT) ends the run early; every child is still stopped.
 * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when a child fails to start or exits
 *   during the run, when no session opens, or when aborted (message `run aborted`).
 */
export async function runLoad(o: LoadOptions, signal?: AbortSignal): Promise<LoadResult> {
  const log = o.log ?? (() => {});
  const keys = await makeBenchKeys();
  const children: BenchChild[] = [];
  const stopper = new AbortController();
  // Rejects when the run is aborted or a child exits early; raced against every wait.
  let failWith: (err: JanusError) => void = () => {};
  const guard = new Promise<never>((_, reject) => (failWith = reject));
  guard.catch(() => {});
  const onAbort = (): void => failWith(new JanusError(ErrorCode.ConnectionClosed, 'run aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  guard.catch(() => stopper.abort());
  const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, guard]);
  const sleep = (s: number): Promise<void> => within(new Promise<void>((r) => setTimeout(r, s * 1000)));
  let running = true;
  let driving: Promise<void> = Promise.resolve();
  const clients: JanusClient[] = [];
  let sink: OtlpSink | null = null;
  const watch = (c: BenchChild): void => {
    children.push(c);
    void c.exited.then(() => failWith(c.exitError()));
  };

  try {
    const onLine = (name: string) => (line: string) => log(`[${name}] ${line}`);
    const backend = await within(BenchChild.start({ name: 'backend', script: new URL('./backend-proc.js', import.meta.url), onLine: onLine('backend') }));
    watch(backend);
    const cfg = benchGatewayConfig(keys.dir, backend.ports.grpc!);
    if (o.tracing) {
      sink = await within(startOtlpSink());
      cfg.tracing = { enabled: true, sampleRatio: 1, otlp: { endpoint: sink.endpoint } };
    }
    const execArgv = [...GATEWAY_NODE_FLAGS, ...(o.gatewayCpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.gatewayCpuProfDir}`] : [])];
    const gateway = await within(
      BenchChild.start({
        name: 'gateway',
        script: new URL('./gateway-proc.js', import.meta.url),
        env: { [GATEWAY_CONFIG_ENV]: JSON.stringify(cfg) },
        execArgv,
        onLine: onLine('gateway'),
      }),
    );
    watch(gateway);
    const port = o.transport === 'tcp' ? gateway.ports.tcp! : gateway.ports.ws!;
    log(`gateway pid ${gateway.pid} ${o.transport} 127.0.0.1:${port}, backend pid ${backend.pid} grpc 127.0.0.1:${backend.ports.grpc}`);

    log(`opening ${o.connections} ${o.transport} sessions, ${o.setupConcurrency} at a time`);
    const setup = await within(
      connectClients({ transport: o.transport, host: '127.0.0.1', port, keys, connections: o.connections, setupConcurrency: o.setupConcurrency, signal: stopper.signal, into: clients }),
    );
    log(`${clients.length} sessions open in ${(setup.setupMs / 1000).toFixed(1)} s` + (setup.firstFailure ? `; ${o.connections - clients.length} failed, first: ${setup.firstFailure}` : ''));
    if (clients.length === 0) throw new JanusError(ErrorCode.ConnectionClosed, `no session opened: ${setup.firstFailure ?? 'unknown'}`, { failures: setup.failures });

    const counters = new LoadCounters();
    driving = driveClosedLoop(clients, patternPayload(o.sizeBytes), counters, () => running);
    log(`warmup ${o.warmupS} s`);
    await sleep(o.warmupS);

    const [g0, b0] = await within(Promise.all([gateway.usage(), backend.usage()]));
    const l0 = process.cpuUsage();
    const m0 = machineBusyMs();
    counters.latency.reset();
    counters.replies = 0;
    counters.measuring = true;
    const t0 = performance.now();
    log(`measuring ${o.durationS} s`);
    await sleep(o.durationS);
    counters.measuring = false;
    const t1 = performance.now();
    const l1 = process.cpuUsage(l0);
    const m1 = machineBusyMs();
    const [g1, b1] = await within(Promise.all([gateway.usage(), backend.usage()]));

    running = false;
    await within(driving);
    const windowS = (t1 - t0) / 1000;
    const result: LoadResult = {
      transport: o.transport,
      connections: o.connections,
      connected: clients.length,
      sizeBytes: o.sizeBytes,
      warmupS: o.warmupS,
      windowS,
      msgsPerSec: counters.replies / windowS,
      replies: counters.replies,
      latency: counters.latency.summary(),
      gateway: processFigures(g0, g1),
      backend: processFigures(b0, b1),
      loadgenCpuCores: (l1.user + l1.system) / 1e6 / windowS,
      machineCpuCores: (m1 - m0) / 1000 / windowS,
      setupMs: setup.setupMs,
      connectFailures: setup.failures,
      requestErrors: counters.errors,
      mismatches: counters.mismatches,
      closedConnections: counters.closedLoops,
      gatewayLimits: BENCH_RATE_LIMIT,
      tracing: sink ? sink.counts : null,
      commit: describeCommit(),
      node: process.version,
      cpuCount: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    };
    if (setup.firstFailure !== undefined) result.firstConnectFailure = setup.firstFailure;
    if (counters.firstError !== undefined) result.firstRequestError = counters.firstError;
    return result;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    running = false;
    stopper.abort();
    // Children exiting from here on is expected: stop treating it as a failure.
    failWith = () => {};
    log('stopping');
    await closeClients(clients, CLOSE_CONCURRENCY);
    await driving.catch(() => {});
    // Gateway first (it drains its tunnels), then the backend.
    for (const c of children.reverse()) await c.stop(CHILD_STOP_MS);
    await sink?.close();
    keys.remove();
  }
}
