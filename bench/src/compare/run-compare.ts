/**
 * One bench:compare run (one system, one scenario, one C) and the whole sequence of them:
 * for each round, for each scenario and C, each system in turn, every run with freshly
 * started processes. Decision: docs/decisions/0007-bench-compare.md.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { LatencySummary } from '../histogram.js';
import type { ProcessUsage } from '../ipc.js';
import { processFigures, type ProcessFigures } from '../run.js';
import { closedLoop, DriveCounters, joinRooms, openLoop, pushLoop, type PushShape } from './drive.js';
import { startJanus } from './janus-system.js';
import { startPinus, type PinusSettings } from './pinus-system.js';
import { startProxy } from './proxy-system.js';
import { patternPayload, type BenchSession, type ProcessRole, type RunningSystem, type SystemName, type SystemStarter } from './system.js';

/** The scenarios: closed-loop echo, open-loop echo at a fixed rate, room broadcast. */
export const SCENARIOS = ['echo', 'open', 'push'] as const;
/** One of {@link SCENARIOS}. */
export type Scenario = (typeof SCENARIOS)[number];

/** Options of a whole bench:compare. */
export interface CompareOptions {
  systems: SystemName[];
  scenarios: Scenario[];
  /** C values of the echo and push scenarios (sessions). */
  connections: number[];
  /** Sessions of the open-loop scenario. */
  openConnections: number;
  /** Offered rate of the open-loop scenario (requests/s, all sessions together). */
  rateHz: number;
  rounds: number;
  /** Load before the window, not counted (s). */
  warmupS: number;
  /** Measured window (s). */
  durationS: number;
  /** Echo payload (bytes). */
  sizeBytes: number;
  /** Sessions connecting at once during setup. */
  setupConcurrency: number;
  push: PushShape;
  pinus: PinusSettings;
  log: (line: string) => void;
}

/** Usage of one process over a run's window. */
export interface ProcessResult {
  role: ProcessRole;
  label: string;
  figures: ProcessFigures;
}

/** What one run measured. Times in ms unless named otherwise. */
export interface CompareRun {
  round: number;
  system: SystemName;
  scenario: Scenario;
  /** Sessions asked for. */
  connections: number;
  /** Sessions that opened. */
  connected: number;
  /** Actual window length (s). */
  windowS: number;
  /** echo, open: replies/s; push: delivered pushes/s. */
  perSec: number;
  /** echo, open: round trip (open: from the scheduled send time); push: Say sent -> push received. */
  latency: LatencySummary;
  /** open: requests scheduled per second in the window. */
  offeredPerSec?: number;
  /** open: how late the load generator sent after the scheduled time. */
  sendLag?: LatencySummary;
  /** push: Says answered per second. */
  saysPerSec?: number;
  processes: ProcessResult[];
  /** The load generator (this process): cores used over the window. */
  loadgenCpuCores: number;
  /** All processes on the machine: busy cores over the window. */
  machineCpuCores: number;
  setupMs: number;
  connectFailures: number;
  firstConnectFailure?: string;
  /** Failed requests by message (all phases). */
  errors: Record<string, number>;
  mismatches: number;
}

/** A whole bench:compare: every run, plus where it ran. */
export interface CompareResult {
  runs: CompareRun[];
  /** Runs that failed, with the reason (a system that did not start, a process that died). */
  failures: { round: number; system: SystemName; scenario: Scenario; connections: number; error: string }[];
  commit: string;
  node: string;
  cpuCount: number;
  cpuModel: string;
  options: Omit<CompareOptions, 'log'>;
}

const STARTERS: Record<SystemName, (o: CompareOptions) => SystemStarter> = {
  janus: () => (ctx) => startJanus(ctx, true),
  'janus-plaintext': () => (ctx) => startJanus(ctx, false),
  pinus: (o) => (ctx) => startPinus(ctx, o.pinus),
  proxy: () => startProxy,
};

function describeCommit(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return 'unknown';
  }
}

function machineBusyMs(): number {
  let busy = 0;
  for (const c of cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}

/** Longest wait for the requests in flight at the end of the window (s). */
const DRAIN_S = 15;

/** Thrown when a run is aborted (Ctrl-C). */
export class AbortedError extends Error {}

async function openSessions(sys: RunningSystem, n: number, concurrency: number, into: BenchSession[], signal: AbortSignal): Promise<{ failures: number; first?: string }> {
  let next = 0;
  let failures = 0;
  let first: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < n && !signal.aborted) {
      const i = next++;
      try {
        into.push(await sys.connect(i));
      } catch (err) {
        failures++;
        first ??= `session ${i}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return first === undefined ? { failures } : { failures, first };
}

/**
 * Runs one system, one scenario, one C: start, open sessions, warm up, measure, stop.
 * Every process is stopped on success, error and abort.
 * @throws Error when the system does not start, a process dies, no session opens, or
 *   AbortedError when `signal` aborts.
 */
export async function runOne(o: CompareOptions, system: SystemName, scenario: Scenario, connections: number, round: number, signal: AbortSignal): Promise<CompareRun> {
  const log = o.log;
  const payload = patternPayload(o.sizeBytes);
  let sys: RunningSystem | null = null;
  const sessions: BenchSession[] = [];
  let running = true;
  let driving: Promise<void> = Promise.resolve();
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortedError('run aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
  aborted.catch(() => {});
  const setupAbort = new AbortController();
  const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, aborted, ...(sys ? [sys.failed] : [])]);
  const sleep = (s: number): Promise<void> => within(new Promise<void>((r) => setTimeout(r, s * 1000)));
  try {
    log(`round ${round}: ${system}, ${scenario}, ${connections} sessions: starting`);
    sys = await within(STARTERS[system](o)({ payload, log }));
    const s = sys;
    void s.failed.catch(() => setupAbort.abort());
    void aborted.catch(() => setupAbort.abort());
    const t0 = performance.now();
    const opened = await within(openSessions(s, connections, o.setupConcurrency, sessions, setupAbort.signal));
    const setupMs = performance.now() - t0;
    log(`${sessions.length} sessions open in ${(setupMs / 1000).toFixed(1)} s` + (opened.first ? `; ${opened.failures} failed, first: ${opened.first}` : ''));
    if (sessions.length === 0) throw new Error(`no session opened: ${opened.first ?? 'unknown'}`);

    const c = new DriveCounters();
    if (scenario === 'push') await within(joinRooms(sessions, o.push.roomSize, o.setupConcurrency, c));
    const go = (): boolean => running;
    driving = scenario === 'echo' ? closedLoop(sessions, c, go) : scenario === 'open' ? openLoop(sessions, o.rateHz, c, go) : pushLoop(sessions, o.push, c, go);
    await sleep(o.warmupS);
    const u0 = await within(Promise.all(s.processes.map((p) => p.usage())));
    const l0 = process.cpuUsage();
    const m0 = machineBusyMs();
    c.resetWindow();
    c.measuring = true;
    const w0 = performance.now();
    await sleep(o.durationS);
    c.measuring = false;
    const w1 = performance.now();
    const l1 = process.cpuUsage(l0);
    const m1 = machineBusyMs();
    const u1: ProcessUsage[] = await within(Promise.all(s.processes.map((p) => p.usage())));
    running = false;
    // Requests still in flight finish (closed loop: one per session; open loop: those the
    // system has not answered yet), but not for longer than DRAIN_S.
    await within(Promise.race([driving, new Promise<void>((r) => setTimeout(r, DRAIN_S * 1000).unref())]));
    const windowS = (w1 - w0) / 1000;
    const run: CompareRun = {
      round,
      system,
      scenario,
      connections,
      connected: sessions.length,
      windowS,
      perSec: c.done / windowS,
      latency: c.latency.summary(),
      processes: s.processes.map((p, i) => ({ role: p.role, label: p.label, figures: processFigures(u0[i]!, u1[i]!) })),
      loadgenCpuCores: (l1.user + l1.system) / 1e6 / windowS,
      machineCpuCores: (m1 - m0) / 1000 / windowS,
      setupMs,
      connectFailures: opened.failures,
      errors: Object.fromEntries(c.errors),
      mismatches: c.mismatches,
    };
    if (opened.first !== undefined) run.firstConnectFailure = opened.first;
    if (scenario === 'open') {
      run.offeredPerSec = c.offered / windowS;
      run.sendLag = c.sendLag.summary();
    }
    if (scenario === 'push') run.saysPerSec = c.says / windowS;
    return run;
  } finally {
    signal.removeEventListener('abort', onAbort);
    running = false;
    setupAbort.abort();
    await Promise.all(sessions.map((x) => x.close()));
    await driving.catch(() => {});
    await sys?.stop();
    log(`round ${round}: ${system}, ${scenario}, ${connections} sessions: stopped`);
  }
}

/**
 * Runs every round, scenario, C and system of `o`, one after another. A run that fails is
 * recorded in `failures` and the sequence goes on; an abort ends it.
 * @param onRun called after each run (for progress output).
 */
export async function runCompare(o: CompareOptions, signal: AbortSignal, onRun: (r: CompareRun) => void = () => {}): Promise<CompareResult> {
  const { log: _log, ...options } = o;
  const result: CompareResult = {
    runs: [],
    failures: [],
    commit: describeCommit(),
    node: process.version,
    cpuCount: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    options,
  };
  for (let round = 1; round <= o.rounds; round++) {
    for (const scenario of o.scenarios) {
      const cs = scenario === 'open' ? [o.openConnections] : o.connections;
      for (const connections of cs) {
        for (const system of o.systems) {
          if (signal.aborted) throw new AbortedError('run aborted');
          try {
            const r = await runOne(o, system, scenario, connections, round, signal);
            result.runs.push(r);
            onRun(r);
          } catch (err) {
            if (err instanceof AbortedError) throw err;
            const error = err instanceof Error ? err.message : String(err);
            o.log(`round ${round}: ${system}, ${scenario}, ${connections} sessions FAILED: ${error}`);
            result.failures.push({ round, system, scenario, connections, error });
          }
        }
      }
    }
  }
  return result;
}
