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
import { benchMain } from './cli-main.js';
import { parseSoakArgs, SOAK_USAGE, type SoakArgs } from './soak-args.js';
import { formatSoakCsv, formatSoakSummary, formatSoakSvg } from './soak-report.js';
import { runSoak } from './soak-run.js';

benchMain<SoakArgs>({
  name: 'soak',
  usage: SOAK_USAGE,
  parse: parseSoakArgs,
  interruptedLine: 'interrupted, winding down',
  run: async ({ options, out, verbose }, signal, interrupted) => {
    const started = new Date().toISOString();
    const r = await runSoak({ ...options, log: (line) => console.error(`${new Date().toISOString()} ${line}`), childOutput: verbose }, signal);
    const summary = [`started ${started} UTC`, ...formatSoakSummary(r)];
    for (const line of summary) console.log(line);
    writeFileSync(`${out}.csv`, formatSoakCsv(r.samples));
    writeFileSync(`${out}.svg`, formatSoakSvg(r, `Janus soak: gateway memory, ${(r.elapsedS / 60).toFixed(0)} min, ${r.rate} requests/s, ${r.options.sessions} workers`));
    writeFileSync(`${out}.txt`, summary.join('\n') + '\n');
    console.error(`soak: wrote ${out}.csv, ${out}.svg, ${out}.txt`);
    return interrupted() ? 130 : r.violations.length === 0 ? 0 : 1;
  },
});
