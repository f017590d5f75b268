/**
 * bench:compare (docs/benchmarks.md "Comparison", docs/decisions/0007-bench-compare.md):
 *
 *   npm run bench:compare -- [--systems janus,pinus,proxy] [--scenario echo,open,push]
 *     [--connections 100,1000] [--rounds 3] [--warmup 5] [--duration 15] [--rate 5000] ...
 *
 * Runs the same load from this process against Janus, pinus and a plain proxy, one after
 * another, and prints Markdown tables with the medians and the Janus ratios, then one JSON
 * line (stdout). Progress goes to stderr. Exit codes: 0 done (failed runs, if any, are
 * listed in the output), 1 every run failed, 2 bad arguments, 130 interrupted.
 */
import { COMPARE_USAGE, parseCompareArgs, type CompareArgs } from './args.js';
import { formatCompare, formatCompareJson } from './report.js';
import { runCompare } from './run-compare.js';

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');

async function main(): Promise<number> {
  let args: CompareArgs | null;
  try {
    args = parseCompareArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`bench:compare: ${(err as Error).message}\n${COMPARE_USAGE}`);
    return 2;
  }
  if (args === null) {
    console.log(COMPARE_USAGE);
    return 0;
  }
  const verbose = args.verbose;
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130); // second Ctrl-C: children exit on their own (IPC / usage link closed)
    interrupted = true;
    console.error('bench:compare: interrupted, stopping');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const o = args.options;
  const progress = (line: string): void => {
    if (verbose || !line.startsWith('[')) console.error(line);
  };
  try {
    const result = await runCompare({ ...o, log: progress }, abort.signal, (r) =>
      console.error(`  -> ${r.system} ${r.scenario} C=${r.connections} round ${r.round}: ${n0(r.perSec)}/s, p99 ${r.latency.p99Ms.toFixed(2)} ms`),
    );
    for (const line of formatCompare(result)) console.log(line);
    console.log(formatCompareJson(result));
    return result.runs.length === 0 ? 1 : 0;
  } catch (err) {
    console.error(`bench:compare: ${(err as Error).message}`);
    return interrupted ? 130 : 1;
  }
}

// Exit explicitly: a session still connecting when the run ended must not keep the process up.
void main().then((code) => process.exit(code));
