/**
 * The handshake bench (docs/benchmarks.md "Handshake"):
 *
 *   npm run bench:handshake -- [--modes pool,inline] [--threads N] [--sessions 2000]
 *     [--concurrency 100] [--echo 100] [--storm 1000] [--storm-rounds 1] [--window 5] [--warmup 2] [--skip-storm]
 *     [--worker-nice 19] [--storm-nice 0] [--echo-rate 0]
 *     [--cpu-prof DIR] [--verbose]
 *
 * First the floor: a bare TCP server child (tcp-floor-proc.ts) that only accepts, reads
 * and writes the four frames of a login and closes; its CPU per session is what any
 * gateway's session costs before crypto, protobuf and the tunnel.
 * Then per mode (pool: the gateway's crypto pool with its default or --threads size; inline: the
 * same code with 0 threads, i.e. the handshake crypto on the event loop), against a fresh
 * gateway child process and the demo backend in another:
 *   1. the server-side handshake primitives timed in the gateway process (node:crypto);
 *   2. new authenticated sessions per second: `--sessions` clients connect (handshake,
 *      CSAuth, player tunnel, SCAuth), `--concurrency` at a time; gateway CPU per session
 *      (every thread) over that phase, next to the primitives' sum; then their close;
 *   3. a reconnect storm: `--echo` sessions run Echo, closed loop (one in flight each) or,
 *      with `--echo-rate R`, open loop (R echoes per second in all, latency from each
 *      send's scheduled time), both bench:compare's drivers (compare/drive.ts); their latency over a
 *      `--window` without a storm, then over the storm: a child process connects `--storm`
 *      clients at once (full login each) and closes them, `--storm-rounds` times.
 * Prints a table per mode and one JSON line (the last line of stdout).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { JanusClient } from '@janus/client';
import { BenchChild } from './child.js';
import { closeClients, connectClients } from './clients.js';
import { closedLoop, DriveCounters, openLoop } from './compare/drive.js';
import { JanusSession } from './compare/janus-system.js';
import type { LatencySummary } from './histogram.js';
import { makeBenchKeys, type BenchKeys } from './keys.js';
import type { LoopDelay, PrimitiveCosts, ThreadCpu } from './session-ipc.js';
import { coresBetween, cpuUsBetween, eluBetween, intOption, machineLine, parseOptions, startBackend, startSessionGateway } from './session-bench.js';
import { FLOOR_FRAMES, STORM_ENV, type StormSpec, type StormStats } from './session-ipc.js';
import { GATEWAY_NODE_FLAGS } from './run.js';

const USAGE =
  'usage: npm run bench:handshake -- [--modes pool,inline] [--threads N] [--sessions 2000] [--concurrency 100] [--echo 100] [--storm 1000] [--storm-rounds 1] [--window 5] [--warmup 2] [--skip-storm] [--worker-nice 19] [--storm-nice 0] [--echo-rate 0] [--cpu-prof DIR] [--verbose]';

interface Options {
  modes: ('pool' | 'inline')[];
  threads?: number;
  sessions: number;
  concurrency: number;
  echo: number;
  storm: number;
  /** Storm rounds (each: `storm` clients connect at once, then close). */
  stormRounds: number;
  windowS: number;
  warmupS: number;
  verbose: boolean;
  /** Run the gateway child with --cpu-prof, profile written here. */
  cpuProfDir?: string;
  /** Skip step 3 (the storm). */
  skipStorm: boolean;
  /** OS nice value of the gateway's crypto pool threads (CryptoPoolOptions.workerNice). */
  workerNice: number;
  /** OS nice value of the storm child's threads: 19 stands for storm clients on other machines, using only what the cores leave. */
  stormNice: number;
  /** The open sessions' load: 0 = closed loop (one echo in flight per session); else an open loop offering this many echoes per second in all. */
  echoRate: number;
}

/** One window of the open sessions' echo (closed or open loop). */
interface EchoWindow {
  windowS: number;
  msgsPerSec: number;
  /** The gateway's event loop delay over the window. */
  loopDelay: LoopDelay;
  latency: LatencySummary;
  gatewayCores: number;
  gatewayEventLoop: number;
  stormSessionsPerSec?: number;
}

/** What one mode measured. */
interface ModeResult {
  mode: string;
  primitives: PrimitiveCosts;
  sessionsOpened: number;
  connectFailures: Record<string, number>;
  sessionsPerSec: number;
  /** Gateway CPU (us, every thread) per session opened. */
  gatewayCpuUsPerSession: number;
  ratioToPrimitives: number;
  gatewayCoresOpening: number;
  gatewayEventLoopOpening: number;
  loadgenCores: number;
  gatewayCpuUsPerClose: number;
  /** System (kernel) share of the gateway's CPU while opening (0..1). */
  gatewaySystemShare: number;
  /** Gateway CPU per session opened by thread group (us; /proc ticks of 10 ms). */
  threadsUsPerSession: Record<string, number>;
  /** Crypto pool jobs run inline and on workers over the whole mode (warm-up included). */
  poolJobs?: { inline: number; offloaded: number };
  /** Absent with --skip-storm. */
  baseline?: EchoWindow;
  storm?: EchoWindow;
  stormStats?: StormStats;
  p99Ratio?: number;
}

function parse(argv: string[]): Options | null {
  if (argv.includes('--help')) return null;
  const o = parseOptions(argv, ['modes', 'threads', 'sessions', 'concurrency', 'echo', 'storm', 'storm-rounds', 'window', 'warmup', 'cpu-prof', 'worker-nice', 'storm-nice', 'echo-rate'], ['verbose', 'skip-storm']);
  const modes = (o.get('modes') ?? 'pool,inline').split(',');
  for (const m of modes) if (m !== 'pool' && m !== 'inline') throw new Error(`--modes: ${m} is not pool or inline`);
  const r: Options = {
    modes: modes as Options['modes'],
    sessions: intOption(o, 'sessions', 2000),
    concurrency: intOption(o, 'concurrency', 100),
    echo: intOption(o, 'echo', 100),
    storm: intOption(o, 'storm', 1000),
    stormRounds: intOption(o, 'storm-rounds', 1),
    windowS: intOption(o, 'window', 5),
    warmupS: intOption(o, 'warmup', 2, 0),
    verbose: o.has('verbose'),
    skipStorm: o.has('skip-storm'),
    workerNice: niceOption(o, 'worker-nice', 19),
    stormNice: niceOption(o, 'storm-nice', 0),
    echoRate: intOption(o, 'echo-rate', 0, 0),
  };
  if (o.has('cpu-prof')) r.cpuProfDir = o.get('cpu-prof')!;
  if (o.has('threads')) r.threads = intOption(o, 'threads', 1);
  return r;
}

/** A nice value option: an integer in -20..19. */
function niceOption(o: Map<string, string>, name: string, dflt: number): number {
  const n = intOption(o, name, dflt, -20);
  if (n > 19) throw new Error(`--${name} must be an integer in -20..19, got ${n}`);
  return n;
}

/** CPU per session by thread group between two /proc samples: main, the other `node` threads (crypto pool, V8 helpers), and others by name. */
function perThread(a: ThreadCpu[], b: ThreadCpu[], mainTid: number, sessions: number): Record<string, number> {
  const before = new Map(a.map((t) => [t.tid, t]));
  const out: Record<string, number> = {};
  for (const t of b) {
    const p = before.get(t.tid);
    const ms = t.userMs + t.systemMs - (p ? p.userMs + p.systemMs : 0);
    if (ms === 0) continue;
    const key = t.tid === mainTid ? 'main' : t.name;
    out[key] = (out[key] ?? 0) + (ms * 1000) / Math.max(1, sessions);
  }
  return out;
}

const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

/** Measures the open sessions' echo while `during` runs (a sleep, or the storm). */
async function echoWindow(gateway: BenchChild, counters: DriveCounters, during: () => Promise<void>): Promise<EchoWindow> {
  const g0 = await gateway.usage();
  await gateway.call('loopDelayReset');
  counters.resetWindow();
  counters.measuring = true;
  const t0 = performance.now();
  await during();
  counters.measuring = false;
  const wall = (performance.now() - t0) / 1000;
  const g1 = await gateway.usage();
  const loopDelay = await gateway.call<LoopDelay>('loopDelay');
  return {
    windowS: wall,
    msgsPerSec: counters.done / wall,
    latency: counters.latency.summary(),
    gatewayCores: coresBetween(g0, g1),
    gatewayEventLoop: eluBetween(g0, g1),
    loopDelay,
  };
}

/** What the bare TCP floor measured (tcp-floor-proc.ts). */
interface FloorResult {
  sessions: number;
  sessionsPerSec: number;
  /** Server CPU (us, every thread) per session opened: accept, two reads, two writes. */
  serverCpuUsPerOpen: number;
  /** Server CPU (us) per session closed: the client's FIN, the server's end and close. */
  serverCpuUsPerClose: number;
}

/** Opens one bare TCP session against the floor server: the four frames of a login; resolves with the socket once the second answer is in. */
function floorSession(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    let seen = 0;
    let step = 0;
    s.on('connect', () => s.write(Buffer.alloc(FLOOR_FRAMES.clientHandshake)));
    s.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (step === 0 && seen >= FLOOR_FRAMES.serverHandshake) {
        step = 1;
        s.write(Buffer.alloc(FLOOR_FRAMES.clientAuth));
      } else if (step === 1 && seen >= FLOOR_FRAMES.serverHandshake + FLOOR_FRAMES.serverAuth) {
        step = 2;
        resolve(s);
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('floor session closed before its login frames')));
  });
}

/** Opens `n` floor sessions, `concurrency` at a time. */
async function openFloorSessions(port: number, n: number, concurrency: number): Promise<Socket[]> {
  const out: Socket[] = [];
  const lane = async (): Promise<void> => {
    while (out.length + pendingFloor.size < n) {
      const p = floorSession(port);
      pendingFloor.add(p);
      try {
        out.push(await p);
      } finally {
        pendingFloor.delete(p);
      }
    }
  };
  const pendingFloor = new Set<Promise<Socket>>();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return out;
}

/** Ends every socket and resolves when all have closed. */
function closeFloorSessions(sockets: Socket[]): Promise<void> {
  return Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
    s.removeAllListeners('close');
    s.once('close', () => resolve());
    s.end();
  }))).then(() => undefined);
}

/**
 * The floor under any gateway's cost per session: a server child that only accepts, reads
 * and writes the four frames of a login and closes (tcp-floor-proc.ts). After a warm-up of
 * 200, `o.sessions` sessions open `o.concurrency` at a time and stay open; then all close.
 * The child's CPU per session over each phase.
 */
async function measureFloor(o: Options, log: (l: string) => void): Promise<FloorResult> {
  const child = await BenchChild.start({ name: 'tcp floor', script: new URL('./tcp-floor-proc.js', import.meta.url), execArgv: [...GATEWAY_NODE_FLAGS], onLine: (l) => log(`[floor] ${l}`) });
  try {
    const port = child.ports.tcp!;
    await closeFloorSessions(await openFloorSessions(port, Math.min(200, o.sessions), o.concurrency));
    await sleep(0.2);
    const u0 = await child.usage();
    const t0 = performance.now();
    const open = await openFloorSessions(port, o.sessions, o.concurrency);
    const wall = (performance.now() - t0) / 1000;
    const u1 = await child.usage();
    await closeFloorSessions(open);
    await sleep(0.5); // the server's side of the last closes
    const u2 = await child.usage();
    return { sessions: o.sessions, sessionsPerSec: o.sessions / wall, serverCpuUsPerOpen: cpuUsBetween(u0, u1) / o.sessions, serverCpuUsPerClose: cpuUsBetween(u1, u2) / o.sessions };
  } finally {
    await child.stop(15000);
  }
}

async function runMode(mode: 'pool' | 'inline', o: Options, keys: BenchKeys, backendPort: number, log: (l: string) => void): Promise<ModeResult> {
  const children: BenchChild[] = [];
  const clients: JanusClient[] = [];
  let running = true;
  let driving: Promise<void> = Promise.resolve();
  try {
    const execArgv = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
    const spec = { keysDir: keys.dir, backendPort, log, execArgv, cryptoThreads: mode === 'inline' ? 0 : o.threads, cryptoNice: o.workerNice };
    const gateway = await startSessionGateway(spec);
    children.push(gateway);
    const port = gateway.ports.tcp!;
    const primitives = await gateway.call<PrimitiveCosts>('primitives', 2000);
    log(`${mode}: primitives sum ${primitives.sum.toFixed(1)} us`);

    // Warm up the gateway's handshake and login path (JIT, channels to the backend).
    const warm: JanusClient[] = [];
    await connectClients({ transport: 'tcp', host: '127.0.0.1', port, keys, connections: Math.min(200, o.sessions), setupConcurrency: o.concurrency, into: warm });
    await closeClients(warm, o.concurrency);

    const th0 = await gateway.call<ThreadCpu[]>('threadCpu');
    const g0 = await gateway.usage();
    const l0 = process.cpuUsage();
    const t0 = performance.now();
    const setup = await connectClients({ transport: 'tcp', host: '127.0.0.1', port, keys, connections: o.sessions, setupConcurrency: o.concurrency, into: clients });
    const wall = (performance.now() - t0) / 1000;
    const g1 = await gateway.usage();
    const l1 = process.cpuUsage(l0);
    const th1 = await gateway.call<ThreadCpu[]>('threadCpu');
    const opened = clients.length;
    const cpuPerSession = opened > 0 ? cpuUsBetween(g0, g1) / opened : 0;
    log(`${mode}: ${opened} sessions in ${wall.toFixed(1)} s`);
    await closeClients(clients.splice(0), o.concurrency);
    await sleep(0.5); // let the gateway finish closing
    const g2 = await gateway.usage();
    const cpuPerClose = opened > 0 ? cpuUsBetween(g1, g2) / opened : 0;

    const result: ModeResult = {
      mode: mode === 'pool' ? `pool (${o.threads ?? 'default'} threads)` : 'inline (0 threads)',
      primitives,
      sessionsOpened: opened,
      connectFailures: setup.failures,
      sessionsPerSec: opened / wall,
      gatewayCpuUsPerSession: cpuPerSession,
      ratioToPrimitives: cpuPerSession / primitives.sum,
      gatewayCoresOpening: coresBetween(g0, g1),
      gatewayEventLoopOpening: eluBetween(g0, g1),
      loadgenCores: (l1.user + l1.system) / 1e6 / wall,
      gatewayCpuUsPerClose: cpuPerClose,
      gatewaySystemShare: (g1.cpu.system - g0.cpu.system) / Math.max(1, cpuUsBetween(g0, g1)),
      threadsUsPerSession: perThread(th0, th1, gateway.pid ?? 0, opened),
    };
    if (o.skipStorm) {
      result.poolJobs = await gateway.call<{ inline: number; offloaded: number }>('poolCounts');
      return result;
    }

    // Reconnect storm against open sessions, in a closed loop or at an offered rate (--echo-rate).
    const echoSetup = await connectClients({ transport: 'tcp', host: '127.0.0.1', port, keys, connections: o.echo, setupConcurrency: o.concurrency, into: clients });
    if (clients.length === 0) throw new Error(`no echo session opened: ${echoSetup.firstFailure}`);
    const counters = new DriveCounters();
    const payload = new Uint8Array(64).map((_, i) => (i * 31 + 7) & 0xff);
    const sessions = clients.map((c) => new JanusSession(c, payload));
    driving = o.echoRate > 0 ? openLoop(sessions, o.echoRate, counters, () => running) : closedLoop(sessions, counters, () => running);
    await sleep(o.warmupS);
    log(`${mode}: baseline window`);
    const baseline = await echoWindow(gateway, counters, () => sleep(o.windowS));
    const stormSpec: StormSpec = { port, keysDir: keys.dir, clients: o.storm, uidBase: 1_000_000, rounds: o.stormRounds, nice: o.stormNice };
    let storm: BenchChild | null = null;
    log(`${mode}: storm window`);
    // The window runs from the storm child's start (its clients connect at once) until its
    // rounds are done: every storm session opened (or failed) and closed again.
    const stormWindow = await echoWindow(gateway, counters, async () => {
      storm = await BenchChild.start({
        name: 'storm',
        script: new URL('./storm-proc.js', import.meta.url),
        env: { [STORM_ENV]: JSON.stringify(stormSpec) },
        onLine: (l) => log(`[storm] ${l}`),
      });
      children.push(storm);
      while (!(await storm.call<StormStats>('stats')).done) await sleep(0.05);
    });
    const s1 = await storm!.call<StormStats>('stats');
    stormWindow.stormSessionsPerSec = s1.opened / stormWindow.windowS;
    await storm!.stop(30000);
    running = false;
    await driving;
    result.poolJobs = await gateway.call<{ inline: number; offloaded: number }>('poolCounts');
    return { ...result, baseline, storm: stormWindow, stormStats: s1, p99Ratio: stormWindow.latency.p99Ms / baseline.latency.p99Ms };
  } finally {
    running = false;
    await closeClients(clients, 200);
    await driving.catch(() => {});
    for (const c of children.reverse()) await c.stop(15000);
  }
}

const f = (v: number, d = 1): string => v.toFixed(d);

function table(r: ModeResult, o: Options): string[] {
  const p = r.primitives;
  const w = (x: EchoWindow): string =>
    `${f(x.windowS, 1)} s, ${f(x.msgsPerSec, 0)} msg/s, p50 ${f(x.latency.p50Ms, 2)} p99 ${f(x.latency.p99Ms, 2)} p99.9 ${f(x.latency.p999Ms, 2)} max ${f(x.latency.maxMs, 2)} ms; ` +
    `gateway ${f(x.gatewayCores, 2)} cores, event loop ${f(x.gatewayEventLoop * 100, 0)} % busy, delay p99 ${f(x.loopDelay.p99Ms, 1)} max ${f(x.loopDelay.maxMs, 1)} ms`;
  const lines = [
    `handshake bench, ${r.mode}`,
    `  primitives (us, node:crypto, timed in the gateway process): verify ${f(p.ed25519Verify)}  x25519 gen ${f(p.x25519Generate)}  derive ${f(p.x25519Derive)}  sign ${f(p.ed25519Sign)}  sha256 x2 ${f(p.sha256x2)}  hkdf ${f(p.hkdf88)}  = sum ${f(p.sum)}`,
    `  new sessions   ${f(r.sessionsPerSec, 0)}/s (${r.sessionsOpened}/${o.sessions} opened, ${o.concurrency} at a time; failures ${JSON.stringify(r.connectFailures)})`,
    `  gateway CPU    ${f(r.gatewayCpuUsPerSession, 0)} us per session opened = ${f(r.ratioToPrimitives, 2)} x the primitives' sum; ${f(r.gatewayCoresOpening, 2)} cores, event loop ${f(r.gatewayEventLoopOpening * 100, 0)} %; close ${f(r.gatewayCpuUsPerClose, 0)} us per session`,
    `  gateway CPU by thread (us per session): ${Object.entries(r.threadsUsPerSession).map(([k, v]) => `${k} ${f(v, 0)}`).join(', ')}; kernel share ${f(r.gatewaySystemShare * 100, 0)} %`,
    `  load gen       ${f(r.loadgenCores, 2)} cores while opening`,
    `  pool jobs      ${r.poolJobs ? `${r.poolJobs.inline} inline, ${r.poolJobs.offloaded} on workers (whole mode)` : '?'}`,
  ];
  if (!r.baseline || !r.storm || !r.stormStats || r.p99Ratio === undefined) return lines;
  return [
    ...lines,
    `  echo, ${o.echo} open sessions (${o.echoRate > 0 ? `open loop, ${o.echoRate} msgs/s offered` : 'closed loop'}), no storm:   ${w(r.baseline)}`,
    `  echo, during ${o.storm}-client storm: ${w(r.storm)}`,
    `  storm          ${f(r.storm.stormSessionsPerSec ?? 0, 0)} sessions/s; ${r.stormStats.rounds} rounds, ${r.stormStats.opened} opened, failures ${JSON.stringify(r.stormStats.failed)}; storm clients at nice ${o.stormNice}, gateway crypto threads at nice ${o.workerNice}`,
    `  p99 ratio      ${f(r.p99Ratio, 2)} (storm / no storm; target <= 2)`,
  ];
}

async function main(): Promise<number> {
  let o: Options | null;
  try {
    o = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`bench:handshake: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!o) {
    console.log(USAGE);
    return 0;
  }
  const opts = o;
  const log = (l: string): void => {
    if (opts.verbose) console.error(l);
  };
  const keys = await makeBenchKeys();
  let backend: BenchChild | null = null;
  const results: ModeResult[] = [];
  try {
    backend = await startBackend(log);
    console.error('bench:handshake: bare TCP floor');
    const floor = await measureFloor(opts, log);
    console.log(
      `bare TCP floor   ${f(floor.serverCpuUsPerOpen, 0)} us server CPU per session opened (accept, the four frames of a login; no crypto, protobuf or tunnel), ${f(floor.serverCpuUsPerClose, 0)} us per close; ${f(floor.sessionsPerSec, 0)} sessions/s`,
    );
    for (const mode of opts.modes) {
      console.error(`bench:handshake: mode ${mode}`);
      const r = await runMode(mode, opts, keys, backend.ports.grpc!, log);
      for (const line of table(r, opts)) console.log(line);
      console.log(
        `  vs the floor   the target (1.3 x the primitives) leaves ${f(0.3 * r.primitives.sum, 0)} us for everything but the crypto; opening a bare TCP session alone costs ${f(floor.serverCpuUsPerOpen, 0)} us (this mode: ${f(r.gatewayCpuUsPerSession - r.primitives.sum, 0)} us beyond the primitives)`,
      );
      results.push(r);
    }
    console.log(`  machine        ${machineLine()} (load gen, storm, gateway and backend share these cores)`);
    console.log(JSON.stringify({ options: opts, machine: machineLine(), floor, results }, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v)));
    return 0;
  } catch (err) {
    console.error(`bench:handshake: ${(err as Error).message}`);
    return 1;
  } finally {
    await backend?.stop(15000);
    keys.remove();
  }
}

void main().then((code) => process.exit(code));
