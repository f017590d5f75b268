/**
 * The memory bench (docs/benchmarks.md "Memory per session"):
 *
 *   npm run bench:memory -- [--levels 1000,10000] [--concurrency 100] [--crypto-threads N]
 *     [--heap-summary] [--verbose]
 *
 * A gateway child process (session-gateway-proc.ts, started with --expose-gc) and the demo
 * backend in another; this process opens authenticated sessions (handshake, CSAuth, the
 * player tunnel to the demo backend, SCAuth) up to each level and holds them idle. At the
 * baseline (after a warm-up of 200 sessions opened and closed) and at each level the child
 * collects garbage twice and reports its memory; per session = (level - baseline) / level
 * sessions. `--heap-summary` adds a heap snapshot summary by constructor at the baseline
 * and after the last level's sample, and prints the per-session growth of the largest
 * constructors (use it with `--levels 1000`: a snapshot of 10k sessions is too large to
 * parse in the child).
 * `--crypto-threads` sets the gateway's crypto pool size (0 = inline; default: its default).
 * Prints a table and one JSON line (the last line of stdout).
 */
import type { JanusClient } from '@janus/client';
import type { BenchChild } from './child.js';
import { closeClients, connectClients } from './clients.js';
import { makeBenchKeys } from './keys.js';
import { intOption, machineLine, parseOptions, startBackend, startSessionGateway } from './session-bench.js';
import type { HeapRow, MemorySample } from './session-ipc.js';

const USAGE = 'usage: npm run bench:memory -- [--levels 1000,10000] [--concurrency 100] [--crypto-threads N] [--heap-summary] [--verbose]';

/** One level's figures: bytes per session over the baseline. */
interface Level {
  sessions: number;
  opened: number;
  failures: Record<string, number>;
  sample: MemorySample;
  rssPerSession: number;
  heapUsedPerSession: number;
  heapTotalPerSession: number;
  externalPerSession: number;
  arrayBuffersPerSession: number;
  openS: number;
}

const KB = 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Per-session growth by constructor between two summaries (bytes per session), largest first. */
function heapGrowth(base: HeapRow[], at: HeapRow[], sessions: number, top: number): { name: string; perSession: number; countPerSession: number }[] {
  const b = new Map(base.map((r) => [r.name, r]));
  return at
    .map((r) => ({ name: r.name, perSession: (r.selfBytes - (b.get(r.name)?.selfBytes ?? 0)) / sessions, countPerSession: (r.count - (b.get(r.name)?.count ?? 0)) / sessions }))
    .sort((x, y) => y.perSession - x.perSession)
    .slice(0, top);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  let levels: number[];
  let concurrency: number;
  let heapSummary: boolean;
  let verbose: boolean;
  let cryptoThreads: number | undefined;
  try {
    const o = parseOptions(argv, ['levels', 'concurrency', 'crypto-threads'], ['heap-summary', 'verbose']);
    if (o.has('crypto-threads')) cryptoThreads = intOption(o, 'crypto-threads', 0, 0);
    levels = (o.get('levels') ?? '1000,10000').split(',').map(Number);
    if (levels.some((n) => !Number.isInteger(n) || n < 1) || levels.some((n, i) => i > 0 && n <= levels[i - 1]!)) throw new Error('--levels: increasing integers >= 1');
    concurrency = intOption(o, 'concurrency', 100);
    heapSummary = o.has('heap-summary');
    verbose = o.has('verbose');
  } catch (err) {
    console.error(`bench:memory: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const log = (l: string): void => {
    if (verbose) console.error(l);
  };
  const keys = await makeBenchKeys();
  const children: BenchChild[] = [];
  const clients: JanusClient[] = [];
  try {
    const backend = await startBackend(log);
    children.push(backend);
    const gateway = await startSessionGateway({ keysDir: keys.dir, backendPort: backend.ports.grpc!, execArgv: ['--expose-gc'], log, cryptoThreads });
    children.push(gateway);
    const port = gateway.ports.tcp!;
    const warm: JanusClient[] = [];
    await connectClients({ transport: 'tcp', host: '127.0.0.1', port, keys, connections: 200, setupConcurrency: concurrency, into: warm });
    await closeClients(warm, concurrency);
    await sleep(1000);
    // A snapshot's own buffers stay in RSS: take the baseline one before the baseline sample.
    const baseHeap = heapSummary ? await gateway.call<HeapRow[]>('heapSummary', 400) : [];
    const base = await gateway.call<MemorySample>('memory');
    console.error(`bench:memory: baseline RSS ${(base.rss / 2 ** 20).toFixed(1)} MB, heap ${(base.heapUsed / 2 ** 20).toFixed(1)} MB`);
    const results: Level[] = [];
    let growth: ReturnType<typeof heapGrowth> = [];
    for (const level of levels) {
      const t0 = performance.now();
      // Open the sessions missing to this level, with uids above those already open.
      const batch: JanusClient[] = [];
      const setup = await connectClients({ transport: 'tcp', host: '127.0.0.1', port, keys, connections: level - clients.length, setupConcurrency: concurrency, into: batch, uidOffset: clients.length });
      clients.push(...batch);
      const openS = (performance.now() - t0) / 1000;
      await sleep(1000);
      const s = await gateway.call<MemorySample>('memory');
      const n = s.sessions;
      results.push({
        sessions: level,
        opened: n,
        failures: setup.failures,
        sample: s,
        rssPerSession: (s.rss - base.rss) / n,
        heapUsedPerSession: (s.heapUsed - base.heapUsed) / n,
        heapTotalPerSession: (s.heapTotal - base.heapTotal) / n,
        externalPerSession: (s.external - base.external) / n,
        arrayBuffersPerSession: (s.arrayBuffers - base.arrayBuffers) / n,
        openS,
      });
      console.error(`bench:memory: ${n} sessions held, RSS ${(s.rss / 2 ** 20).toFixed(1)} MB`);
    }
    if (heapSummary) growth = heapGrowth(baseHeap, await gateway.call<HeapRow[]>('heapSummary', 400), results[results.length - 1]!.opened, 25);
    const f = (b: number): string => (b / KB).toFixed(1);
    console.log(`memory bench: idle authenticated sessions (player tunnel open), gateway child with --expose-gc, GC before each sample`);
    if (heapSummary) console.log(`  (--heap-summary: the snapshots' own buffers stay in RSS, so the RSS figures of this run are high; use a run without it)`);
    console.log(`  baseline       RSS ${f(base.rss)} KB, heap used ${f(base.heapUsed)} KB, external ${f(base.external)} KB (after 200 sessions opened and closed)`);
    for (const r of results) {
      console.log(
        `  ${String(r.opened).padStart(6)} sessions  RSS ${f(r.rssPerSession)} KB/session, heap used ${f(r.heapUsedPerSession)} (total ${f(r.heapTotalPerSession)}) KB/session, external ${f(r.externalPerSession)} KB/session (array buffers ${f(r.arrayBuffersPerSession)}); ` +
          `RSS ${(r.sample.rss / 2 ** 20).toFixed(1)} MB; opened in ${r.openS.toFixed(1)} s; failures ${JSON.stringify(r.failures)}`,
      );
    }
    const last = results[results.length - 1]!;
    console.log(`  target         <= 40 KB RSS per session at the largest level: ${last.rssPerSession / KB <= 40 ? 'met' : 'missed'} (${f(last.rssPerSession)} KB at ${last.opened})`);
    if (growth.length) {
      console.log(`  heap growth per session at ${results[results.length - 1]!.opened} sessions, by constructor (self bytes, objects):`);
      for (const g of growth) console.log(`    ${g.perSession.toFixed(0).padStart(7)} B  ${g.countPerSession.toFixed(2).padStart(6)}  ${g.name}`);
    }
    console.log(`  machine        ${machineLine()} (load gen, gateway and backend share these cores)`);
    console.log(JSON.stringify({ levels, base, results, heapGrowth: growth, machine: machineLine() }));
    return 0;
  } catch (err) {
    console.error(`bench:memory: ${(err as Error).message}`);
    return 1;
  } finally {
    await closeClients(clients, 200);
    for (const c of children.reverse()) await c.stop(30000);
    keys.remove();
  }
}

void main().then((code) => process.exit(code));
