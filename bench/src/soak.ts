/**
 * The soak (docs/reliability.md "Soak"):
 *
 *   npm run soak -- [--minutes 30] [--rate R] [--sessions 200] [--out PREFIX]
 *
 * Runs the demo stack under churn (soak-run.ts), prints progress and the summary to
 * stderr/stdout, writes PREFIX.csv (memory samples), PREFIX.svg (their plot) and
 * PREFIX.txt (the summary). Exit codes: 0 every request got exactly one answer, 1 it did
 * not or the run failed, 2 bad arguments, 130 interrupted.
 */
import { writeFileSync } from 'node:fs';
import { parseSoakArgs, SOAK_USAGE, type SoakArgs } from './soak-args.js';
import { formatSoakCsv, formatSoakSummary, formatSoakSvg } from './soak-report.js';
import { runSoak } from './soak-run.js';

async function main(): Promise<number> {
  let args: SoakArgs | null;
  try {
    args = parseSoakArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`soak: ${(err as Error).message}\n${SOAK_USAGE}`);
    return 2;
  }
  if (args === null) {
    console.log(SOAK_USAGE);
    return 0;
  }
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('soak: interrupted, winding down');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const { options, out, verbose } = args;
    const started = new Date().toISOString();
    const r = await runSoak({ ...options, log: (line) => console.error(`${new Date().toISOString()} ${line}`), childOutput: verbose }, abort.signal);
    const summary = [`started ${started} UTC`, ...formatSoakSummary(r)];
    for (const line of summary) console.log(line);
    writeFileSync(`${out}.csv`, formatSoakCsv(r.samples));
    writeFileSync(`${out}.svg`, formatSoakSvg(r, `Janus soak: gateway memory, ${(r.elapsedS / 60).toFixed(0)} min, ${r.rate} requests/s, ${r.options.sessions} workers`));
    writeFileSync(`${out}.txt`, summary.join('\n') + '\n');
    console.error(`soak: wrote ${out}.csv, ${out}.svg, ${out}.txt`);
    return interrupted ? 130 : r.violations.length === 0 ? 0 : 1;
  } catch (err) {
    console.error(`soak: ${(err as Error).message}`);
    return interrupted ? 130 : 1;
  }
}

void main().then((code) => process.exit(code));
