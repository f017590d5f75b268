/**
 * @janus/bench: the load bench (`npm run bench`, program load.ts) as a library: run it,
 * format its result, read a CPU profile. See docs/benchmarks.md "Load".
 */
export { runLoad, benchGatewayConfig, BENCH_RATE_LIMIT, type LoadOptions, type LoadResult, type ProcessFigures } from './run.js';
export { formatTable, formatJson } from './report.js';
export { parseLoadArgs, USAGE, type LoadArgs } from './args.js';
export { LatencyHistogram, MAX_TRACKABLE_US, type LatencySummary } from './histogram.js';
export { topSelfTime, type SelfTime } from './cpuprofile.js';
export type { ErrorCounts } from './clients.js';
