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
import { benchMain } from '../cli-main.js';
import { COMPARE_USAGE, parseCompareArgs, type CompareArgs } from './args.js';
import { formatCompare, formatCompareJson } from './report.js';
import { runCompare } from './run-compare.js';

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');

benchMain<CompareArgs>({
  name: 'bench:compare',
  usage: COMPARE_USAGE,
  parse: parseCompareArgs,
  interruptedLine: 'interrupted, stopping',
  run: async (args, signal) => {
    const verbose = args.verbose;
    const o = args.options;
    const progress = (line: string): void => {
      if (verbose || !line.startsWith('[')) console.error(line);
    };
    const result = await runCompare({ ...o, log: progress }, signal, (r) =>
      console.error(`  -> ${r.system} ${r.scenario} C=${r.connections} round ${r.round}: ${n0(r.perSec)}/s, p99 ${r.latency.p99Ms.toFixed(2)} ms`),
    );
    for (const line of formatCompare(result)) console.log(line);
    console.log(formatCompareJson(result));
    return result.runs.length === 0 ? 1 : 0;
  },
});
