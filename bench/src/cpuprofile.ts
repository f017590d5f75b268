/**
 * Top self-time functions of a V8 CPU profile (a `.cpuprofile` written by `node --cpu-prof`,
 * e.g. the gateway child's with `npm run bench -- --cpu-prof DIR`):
 *
 *   node bench/dist/src/cpuprofile.js FILE.cpuprofile [N=10]
 *
 * Self time of a function = the sampling intervals whose top frame was that function,
 * summed over every node of the call tree with the same name, file and line.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, JanusError } from '@janus/protocol';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One function's share of a profile. */
export interface SelfTime {
  /** `name file:line` (file relative to the working directory; line 1-based). */
  where: string;
  /** Self time (ms). */
  selfMs: number;
  /** Share of all sampled time, idle included (%). */
  percent: number;
}

function place(f: ProfileNode['callFrame']): string {
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  let file = f.url;
  if (file.startsWith('file://')) file = relative(process.cwd(), fileURLToPath(file));
  return `${name} ${file}:${f.lineNumber + 1}`;
}

/**
 * The `n` functions with the most self time.
 * @throws JanusError JANUS_ERR_ARG_INVALID when the text is not a CPU profile.
 */
export function topSelfTime(profileJson: string, n: number): { totalMs: number; top: SelfTime[] } {
  let p: Profile;
  try {
    p = JSON.parse(profileJson) as Profile;
  } catch (err) {
    throw new JanusError(ErrorCode.ArgInvalid, `not a CPU profile: ${(err as Error).message}`);
  }
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas)) {
    throw new JanusError(ErrorCode.ArgInvalid, 'not a CPU profile: nodes, samples or timeDeltas missing');
  }
  const keyOf = new Map<number, string>();
  for (const node of p.nodes) keyOf.set(node.id, place(node.callFrame));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  // timeDeltas[i] is the interval before samples[i]; attribute the one after each sample to it.
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    const key = keyOf.get(p.samples[i]!) ?? '(unknown)';
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    totalUs += dt;
  }
  const top = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([where, us]) => ({ where, selfMs: us / 1000, percent: totalUs > 0 ? (100 * us) / totalUs : 0 }));
  return { totalMs: totalUs / 1000, top };
}

function main(argv: string[]): number {
  const [file, nRaw] = argv;
  if (!file) {
    console.error('usage: node bench/dist/src/cpuprofile.js FILE.cpuprofile [N=10]');
    return 2;
  }
  const n = nRaw === undefined ? 10 : Number(nRaw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`N must be a positive integer, got ${JSON.stringify(nRaw)}`);
    return 2;
  }
  const { totalMs, top } = topSelfTime(readFileSync(file, 'utf8'), n);
  console.log(`${file}: ${(totalMs / 1000).toFixed(1)} s sampled`);
  console.log('  self ms      %  function');
  for (const t of top) console.log(`${t.selfMs.toFixed(0).padStart(9)} ${t.percent.toFixed(1).padStart(6)}  ${t.where}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
