/**
 * Output of a run: a small human-readable table and one JSON line (the last line of
 * stdout, for scripts: `npm run bench | tail -n 1`).
 */
import type { ErrorCounts } from './clients.js';
import type { LoadResult, ProcessFigures } from './run.js';

const f = (v: number, digits = 2): string => v.toFixed(digits);

function errors(c: ErrorCounts): string {
  const e = Object.entries(c);
  return e.length === 0 ? 'none' : e.map(([code, n]) => `${code} x${n}`).join(', ');
}

function proc(p: ProcessFigures): string {
  return `cpu ${f(p.cpuCores)} cores  event loop ${f(p.eventLoopUtilization * 100, 0)} % busy  RSS peak ${f(p.rssPeakMB, 1)} MB, end ${f(p.rssEndMB, 1)} MB  heap ${f(p.heapUsedEndMB, 1)} MB`;
}

/** The table, as lines. */
export function formatTable(r: LoadResult): string[] {
  const l = r.latency;
  const lines = [
    `janus load bench: ${r.transport}, ${r.connected}/${r.connections} sessions, closed-loop Player Echo of ${r.sizeBytes} bytes, ${f(r.windowS, 1)} s window after ${r.warmupS} s warmup`,
    `  gateway limits raised for the bench: messagesPerSecond ${r.gatewayLimits.messagesPerSecond}, messageBurst ${r.gatewayLimits.messageBurst}, handshakesPerSecond(PerAddress) ${r.gatewayLimits.handshakesPerSecond}; all else default (encrypted)`,
    `  msgs/s       ${f(r.msgsPerSec, 0)}  (${r.replies} replies)`,
    `  latency ms   p50 ${f(l.p50Ms)}  p90 ${f(l.p90Ms)}  p99 ${f(l.p99Ms)}  p99.9 ${f(l.p999Ms)}  max ${f(l.maxMs)}  mean ${f(l.meanMs)}`,
    `  gateway      ${proc(r.gateway)}`,
    `  backend      ${proc(r.backend)}`,
    `  load gen     cpu ${f(r.loadgenCpuCores)} cores (this process)`,
    `  machine cpu  ${f(r.machineCpuCores)} of ${r.cpuCount} cores busy (all processes; if well above gateway + backend + load gen, something else competed)`,
    `  setup        ${f(r.setupMs / 1000, 1)} s; connect failures: ${errors(r.connectFailures)}`,
    `  tracing      ${r.tracing ? `on, every request; the stand-in collector got ${r.tracing.requests} export requests, ${f(r.tracing.bytes / 1024 / 1024, 1)} MB` : 'off'}`,
    `  errors       requests: ${errors(r.requestErrors)}; echo mismatches ${r.mismatches}; connections closed ${r.closedConnections}`,
    `  machine      ${r.cpuCount} x ${r.cpuModel}, node ${r.node}, code ${r.commit} (load gen, gateway and backend share these cores)`,
  ];
  if (r.firstConnectFailure) lines.push(`  first connect failure: ${r.firstConnectFailure}`);
  if (r.firstRequestError) lines.push(`  first request error: ${r.firstRequestError}`);
  return lines;
}

/** The result as one JSON line (numbers rounded to 3 decimals). */
export function formatJson(r: LoadResult): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v));
}
