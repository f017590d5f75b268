/**
 * The load bench (docs/benchmarks.md "Load"):
 *
 *   npm run bench -- [--connections 100] [--duration 20] [--warmup 3] [--transport tcp|ws] [--size 64]
 *
 * Starts the demo backend and a gateway in child processes on free loopback ports, drives
 * N closed-loop Echo sessions from this process, prints a table and a JSON line (stdout),
 * and stops every child, also on error and Ctrl-C. Exit codes: 0 done (the table counts
 * any request errors), 1 the run failed, 2 bad arguments, 130 interrupted.
 */
import { parseLoadArgs, USAGE, type LoadArgs } from './args.js';
import { benchMain } from './cli-main.js';
import { formatJson, formatTable } from './report.js';
import { runLoad } from './run.js';

benchMain<LoadArgs>({
  name: 'bench',
  usage: USAGE,
  parse: parseLoadArgs,
  interruptedLine: 'interrupted, stopping',
  run: async (args, signal) => {
    const verbose = args.verbose;
    const o = args.options;
    console.error(`bench: ${o.connections} ${o.transport} sessions, ${o.warmupS} s warmup + ${o.durationS} s measured`);
    const result = await runLoad({ ...o, log: (line) => verbose && console.error(line) }, signal);
    for (const line of formatTable(result)) console.log(line);
    console.log(formatJson(result));
    return 0;
  },
});
