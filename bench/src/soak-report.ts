/**
 * The soak's outputs: a plain-text summary, the memory samples as CSV, and an SVG plot of
 * the gateway's RSS and heap over time with the backend restarts marked
 * (docs/reliability.md "Soak").
 */
import type { SoakResult, SoakSample } from './soak-run.js';

const f1 = (x: number): string => x.toFixed(1);

/** The summary, one line per fact. */
export function formatSoakSummary(r: SoakResult): string[] {
  const t = r.totals;
  const m = r.memory;
  const lines = [
    `soak: ${f1(r.elapsedS / 60)} min churn, ${r.options.sessions} workers, rate ${r.rate} requests/s` +
      (r.calibratedCapacity === null ? ' (given)' : ` (half of ${r.calibratedCapacity.toFixed(0)} answers/s measured in a closed loop of the same mix)`) +
      `, achieved ${r.achievedRate.toFixed(0)}/s; ${r.notSent} dispatcher slots found no session ready`,
    `requests: ${t.sent} sent = ${t.replied} replied + ${t.unexpectedErr} ServerUnexpectedErr + ${t.answeredByLogout} answered by ServerLogout + ${t.answeredByStreamError} by an object stream's error + ${t.abandoned} abandoned (client reset) + ${t.lost} lost`,
    `exactly once: lost ${t.lost}, duplicated ${t.duplicated}, stray ${t.stray}, mismatched ${t.mismatched}`,
    `own chat pushes: ${t.ownPushesExpected} due = ${t.ownPushesDelivered} delivered + ${t.ownPushesByLogout} cut by ServerLogout + ${t.ownPushesByStreamError} by a stream error + ${t.ownPushesAbandoned} abandoned + ${t.ownPushesLost} lost; duplicated ${t.ownPushesDuplicated}`,
    `logins: ${r.logins.ok} ok, refused ${JSON.stringify(r.logins.refused)} (SCServerLogout code: count), failed ${JSON.stringify(r.logins.failed)}` +
      (r.logins.firstFailure ? `, first: ${r.logins.firstFailure}` : ''),
    `session ends: ${r.clientCloses.graceful} graceful client closes, ${r.clientCloses.abrupt} client resets, ServerLogouts ${JSON.stringify(t.logouts)}, unexplained gateway closes ${t.unexplainedCloses}`,
    `latency (ms): p50 ${f1(r.latency.p50Ms)}, p90 ${f1(r.latency.p90Ms)}, p99 ${f1(r.latency.p99Ms)}, max ${f1(r.latency.maxMs)} over ${r.latency.count} answers`,
    ...r.restarts.map(
      (x) => `backend restart (${x.kind}) at ${x.atS.toFixed(0)} s: stop ${x.stopMs.toFixed(0)} ms, start ${x.startMs.toFixed(0)} ms, next login after ${x.recoveredMs === null ? '-' : x.recoveredMs.toFixed(0)} ms`,
    ),
    `gateway memory after ${r.options.warmupS} s warm-up (${m.samplesUsed} samples every ${r.options.sampleEveryS} s): RSS ${f1(m.rssFirstMB)} -> ${f1(m.rssLastMB)} MB, max ${f1(m.rssMaxMB)} MB, trend ${m.rssSlopeMBPerMin.toFixed(2)} MB/min; heap max ${f1(m.heapMaxMB)} MB, trend ${m.heapSlopeMBPerMin.toFixed(2)} MB/min`,
    `commit ${r.commit}, node ${r.node}, ${r.cpuCount} x ${r.cpuModel}`,
    r.violations.length === 0 ? 'verdict: every request got exactly one answer' : `verdict: FAILED: ${r.violations.join('; ')}`,
  ];
  return lines;
}

/** The samples as CSV with a header row (MB = 2^20 bytes; empty backend_rss_mb while it restarts). */
export function formatSoakCsv(samples: SoakSample[]): string {
  const rows = ['t_s,gateway_rss_mb,gateway_heap_mb,backend_rss_mb,sessions_open,requests_sent,logins'];
  for (const s of samples) {
    rows.push([s.tS.toFixed(1), s.gatewayRssMB.toFixed(2), s.gatewayHeapMB.toFixed(2), s.backendRssMB === null ? '' : s.backendRssMB.toFixed(2), s.sessionsOpen, s.sent, s.logins].join(','));
  }
  return rows.join('\n') + '\n';
}

const W = 760;
const H = 360;
const PAD = { left: 56, right: 16, top: 36, bottom: 44 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A "nice" axis step near range / 5 (1, 2 or 5 times a power of ten). */
function niceStep(range: number): number {
  const raw = range / 5 || 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/**
 * An SVG line plot of the gateway's RSS and V8 heap (MB) against time (min), one vertical
 * dashed line per backend restart. Self-contained (no scripts, no external references).
 */
export function formatSoakSvg(r: SoakResult, title: string): string {
  const s = r.samples;
  const maxT = Math.max(1 / 60, ...s.map((x) => x.tS)) / 60;
  const maxY = Math.max(1, ...s.map((x) => x.gatewayRssMB));
  const yStep = niceStep(maxY);
  const yTop = Math.ceil((maxY * 1.05) / yStep) * yStep;
  const tStep = niceStep(maxT);
  const px = (tMin: number): number => PAD.left + (tMin / maxT) * (W - PAD.left - PAD.right);
  const py = (mb: number): number => H - PAD.bottom - (mb / yTop) * (H - PAD.top - PAD.bottom);
  const line = (pick: (x: SoakSample) => number): string => s.map((x, i) => `${i === 0 ? 'M' : 'L'}${px(x.tS / 60).toFixed(1)},${py(pick(x)).toFixed(1)}`).join(' ');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  for (let y = 0; y <= yTop + 1e-9; y += yStep) {
    out.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${+y.toFixed(3)}</text>`);
  }
  for (let t = 0; t <= maxT + 1e-9; t += tStep) {
    out.push(`<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(t).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${+t.toFixed(3)}</text>`);
  }
  out.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">time since the churn started (min)</text>`);
  out.push(`<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">gateway memory (MB)</text>`);
  for (const x of r.restarts) {
    const X = px(x.atS / 60).toFixed(1);
    out.push(`<line x1="${X}" x2="${X}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#c33" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${X}" y="${PAD.top - 4}" text-anchor="middle" fill="#c33">backend restart (${x.kind})</text>`);
  }
  out.push(`<path d="${line((x) => x.gatewayRssMB)}" fill="none" stroke="#1f5fbf" stroke-width="2"/>`);
  out.push(`<path d="${line((x) => x.gatewayHeapMB)}" fill="none" stroke="#2a9d4a" stroke-width="2"/>`);
  out.push(`<rect x="${PAD.left + 10}" y="${PAD.top + 6}" width="12" height="3" fill="#1f5fbf"/><text x="${PAD.left + 28}" y="${PAD.top + 11}">RSS</text>`);
  out.push(`<rect x="${PAD.left + 70}" y="${PAD.top + 6}" width="12" height="3" fill="#2a9d4a"/><text x="${PAD.left + 88}" y="${PAD.top + 11}">V8 heap used</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
