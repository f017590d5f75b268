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
import { formatJson, formatTable } from './report.js';
import { runLoad } from './run.js';

async function main(): Promise<number> {
  let args: LoadArgs | null;
  try {
    args = parseLoadArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args === null) {
    console.log(USAGE);
    return 0;
  }
  const verbose = args.verbose;
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130); // second Ctrl-C: children exit on their own (IPC closed)
    interrupted = true;
    console.error('bench: interrupted, stopping');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const o = args.options;
    console.error(`bench: ${o.connections} ${o.transport} sessions, ${o.warmupS} s warmup + ${o.durationS} s measured`);
    const result = await runLoad({ ...o, log: (line) => verbose && console.error(line) }, abort.signal);
    for (const line of formatTable(result)) console.log(line);
    console.log(formatJson(result));
    return 0;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    return interrupted ? 130 : 1;
  }
}

// Exit explicitly: a session still connecting when the run ended must not keep the process up.
void main().then((code) => process.exit(code));
