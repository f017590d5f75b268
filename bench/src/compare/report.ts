/**
 * bench:compare output: per scenario and C, one Markdown table row per system with the
 * medians over rounds, then the median ratios of Janus to the others; and the whole result
 * as one JSON line (the last line of stdout).
 */
import type { CompareResult, CompareRun, Scenario } from './run-compare.js';
import { median, medianRatio, range } from './stats.js';
import type { ProcessRole, SystemName } from './system.js';

const n0 = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
const n2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');
const ms = (v: number): string => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '-');

const TITLE: Record<Scenario, string> = {
  echo: 'closed-loop echo (one request in flight per session); msgs/s = replies/s',
  open: 'open-loop echo at a fixed offered rate; latency from the scheduled send time; msgs/s = replies/s',
  push: 'push: room broadcast, senders in closed loops of Say; msgs/s = delivered pushes/s, latency = Say sent -> push received',
};

function cpuOf(r: CompareRun, role: ProcessRole): number | undefined {
  const p = r.processes.find((x) => x.role === role);
  return p?.figures.cpuCores;
}

function medianOf(runs: CompareRun[], f: (r: CompareRun) => number | undefined): number {
  return median(runs.map(f).filter((v): v is number => v !== undefined));
}

/** perSec of `system` in each round (index round - 1; undefined where it has no run). */
function byRound(runs: CompareRun[], system: SystemName, rounds: number): (number | undefined)[] {
  const out: (number | undefined)[] = new Array<number | undefined>(rounds).fill(undefined);
  for (const r of runs) if (r.system === system) out[r.round - 1] = r.perSec;
  return out;
}

/** The report, as lines of Markdown. */
export function formatCompare(res: CompareResult): string[] {
  const o = res.options;
  const lines: string[] = [
    `bench:compare: ${o.systems.join(', ')}; ${o.rounds} round(s), ${o.warmupS} s warmup + ${o.durationS} s window per run, ${o.sizeBytes} B payload; medians over rounds`,
    `machine: ${res.cpuCount} x ${res.cpuModel}, node ${res.node}, code ${res.commit}; load generator and servers share these cores`,
  ];
  for (const scenario of o.scenarios) {
    const cs = scenario === 'open' ? [o.openConnections] : o.connections;
    for (const c of cs) {
      const runs = res.runs.filter((r) => r.scenario === scenario && r.connections === c);
      lines.push('');
      let head = `### ${scenario}, C = ${c}: ${TITLE[scenario]}`;
      if (scenario === 'open') head += ` (offered ${o.rateHz}/s)`;
      if (scenario === 'push') head += ` (rooms of ${o.push.roomSize}, ${o.push.sendersPerRoom} senders each)`;
      lines.push(head, '');
      const extra = scenario === 'open' ? ' offered/s | send lag p99 ms |' : scenario === 'push' ? ' says/s |' : '';
      const extraSep = scenario === 'open' ? ' ---: | ---: |' : scenario === 'push' ? ' ---: |' : '';
      lines.push(`| system | msgs/s | min - max | p50 ms | p99 ms | p99.9 ms |${extra} front CPU | backend CPU | master CPU | load gen CPU | machine busy | runs | errors |`);
      lines.push(`| --- | ---: | ---: | ---: | ---: | ---: |${extraSep} ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
      for (const system of o.systems) {
        const rs = runs.filter((r) => r.system === system);
        const failed = res.failures.filter((f) => f.system === system && f.scenario === scenario && f.connections === c).length;
        if (rs.length === 0) {
          lines.push(`| ${system} | - | - | - | - | - |${scenario === 'open' ? ' - | - |' : scenario === 'push' ? ' - |' : ''} - | - | - | - | - | 0 of ${failed} | - |`);
          continue;
        }
        const [lo, hi] = range(rs.map((r) => r.perSec));
        const front = rs[0]!.processes.find((p) => p.role === 'front')?.label ?? 'front';
        const errs = rs.reduce((a, r) => a + Object.values(r.errors).reduce((x, y) => x + y, 0) + r.mismatches + r.connectFailures, 0);
        let ex = '';
        if (scenario === 'open') ex = ` ${n0(medianOf(rs, (r) => r.offeredPerSec))} | ${ms(medianOf(rs, (r) => r.sendLag?.p99Ms))} |`;
        if (scenario === 'push') ex = ` ${n0(medianOf(rs, (r) => r.saysPerSec))} |`;
        lines.push(
          `| ${system} | ${n0(medianOf(rs, (r) => r.perSec))} | ${n0(lo)} - ${n0(hi)} | ${ms(medianOf(rs, (r) => r.latency.p50Ms))} | ${ms(medianOf(rs, (r) => r.latency.p99Ms))} | ${ms(medianOf(rs, (r) => r.latency.p999Ms))} |${ex}` +
            ` ${n2(medianOf(rs, (r) => cpuOf(r, 'front')))} (${front}) | ${n2(medianOf(rs, (r) => cpuOf(r, 'backend')))} | ${system === 'pinus' ? n2(medianOf(rs, (r) => cpuOf(r, 'master'))) : '-'} |` +
            ` ${n2(medianOf(rs, (r) => r.loadgenCpuCores))} | ${n2(medianOf(rs, (r) => r.machineCpuCores))} | ${rs.length}${failed ? ` (+${failed} failed)` : ''} | ${errs} |`,
        );
      }
      const ratios: string[] = [];
      for (const [mine, label] of [['janus', 'Janus'], ['janus-plaintext', 'Janus plaintext']] as const) {
        for (const other of ['pinus', 'proxy'] as const) {
          if (!o.systems.includes(mine) || !o.systems.includes(other)) continue;
          const r = medianRatio(byRound(runs, mine, o.rounds), byRound(runs, other, o.rounds));
          ratios.push(`${label}/${other} ${Number.isFinite(r) ? r.toFixed(2) : '-'}x`);
        }
      }
      if (ratios.length) lines.push('', `msgs/s ratios (median of the per-round ratios): ${ratios.join(', ')}`);
    }
  }
  lines.push('', 'CPU in cores (CPU seconds per wall second over the window); front = gateway / connector / proxy; latency percentiles are medians of the per-run percentiles.');
  for (const f of res.failures) lines.push(`FAILED: round ${f.round} ${f.system} ${f.scenario} C=${f.connections}: ${f.error}`);
  const errorRuns = res.runs.filter((r) => Object.keys(r.errors).length > 0 || r.mismatches > 0 || r.connectFailures > 0);
  for (const r of errorRuns) {
    const first = Object.entries(r.errors)[0];
    lines.push(
      `errors: round ${r.round} ${r.system} ${r.scenario} C=${r.connections}: connect failures ${r.connectFailures}${r.firstConnectFailure ? ` (${r.firstConnectFailure})` : ''}, mismatches ${r.mismatches}` +
        (first ? `, request errors ${Object.values(r.errors).reduce((a, b) => a + b, 0)} (first kind: ${first[0]} x${first[1]})` : ''),
    );
  }
  return lines;
}

/** The whole result as one JSON line (numbers rounded to 3 decimals). */
export function formatCompareJson(res: CompareResult): string {
  return JSON.stringify(res, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v));
}
