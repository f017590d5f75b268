/**
 * Top self-time functions of a V8 CPU profile (a `.cpuprofile` written by `node --cpu-prof`,
 * e.g. the gateway child's with `npm run bench -- --cpu-prof DIR`):
 *
 *   node bench/dist/src/cpuprofile.js FILE.cpuprofile [N=10]
 *   node bench/dist/src/cpuprofile.js --stages FILE.cpuprofile [GATEWAY_CPU_US_PER_MSG]   (per-stage table)
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
  const p = parseProfile(profileJson);
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

/** A stage of the gateway's per-message path, recognised by a frame on the sampled stack. */
export interface Stage {
  name: string;
  /** True when `frame` (function name, file url) belongs to this stage. */
  match(functionName: string, url: string): boolean;
  /** A catch-all of Node's or V8's own (streams, GC...): used only when no specific stage is on the stack. */
  generic?: boolean;
}

const inFile = (file: string, ...names: string[]) => (fn: string, url: string) => url.endsWith(file) && (names.length === 0 || names.includes(fn));

/**
 * The stages of the gateway's data path (docs/benchmarks.md "Per-message cost"). A sample
 * goes to the deepest frame on its stack that matches a specific stage, so nested stages
 * (record open inside the socket read) are counted apart; a generic stage (Node's stream
 * machinery) takes a sample only when no specific one is on its stack; the rest is `other`.
 */
export const GATEWAY_STAGES: readonly Stage[] = [
  { name: 'setup: handshakes, logins, module loading (not per message)', match: (fn, url) => /handshake\.js$|token\.js$|login\.js$|keygen|modules\/(esm|cjs)/.test(url) || ['createServerHello', 'checkClientHello', 'generateKeyPairSync', 'diffieHellman', 'signOneShot', 'verifyOneShot', 'createPublicKey', 'createPrivateKey'].includes(fn) },
  { name: 'record open (AES-256-GCM)', match: inFile('record.js', 'open') },
  { name: 'record seal (AES-256-GCM)', match: inFile('record.js', 'seal') },
  { name: 'Packet decode', match: inFile('packet.js', 'decodePacket') },
  { name: 'Packet encode', match: inFile('packet.js', 'encodePacket') },
  { name: 'TunnelRequest encode + gRPC prefix', match: (fn, url) => (url.endsWith('tunnel.js') && fn === 'encodeTunnelMessage') || (url.endsWith('grpc-wire.js') && fn === 'grpcTunnelMessage') },
  { name: 'reply decode (TunnelResponse -> Packet)', match: inFile('tunnel.js', 'decodeTunnelMessageAsPacket') },
  { name: 'tunnel write (HTTP/2 stream write)', match: (fn, url) => url.endsWith('gateway/dist/src/tunnel.js') && fn === 'write' },
  { name: 'gRPC receive (HTTP/2 DATA -> messages)', match: (fn, url) => url.endsWith('gateway/dist/src/tunnel.js') || url.endsWith('grpc-wire.js') || url.includes('internal/http2/') },
  { name: 'socket write (frames of a turn, one write)', match: inFile('transport-tcp.js', 'flush') },
  { name: 'read and frame (FrameDecoder)', match: (fn, url) => url.endsWith('frame.js') || (url.endsWith('transport-tcp.js') && fn !== 'flush') },
  { name: 'connection logic (inbox, limits, route, sender)', match: (_fn, url) => url.includes('gateway/dist/src/connection/') || url.endsWith('router.js') },
  { name: 'Node stream machinery (socket reads, events, ticks)', match: (_fn, url) => url.startsWith('node:internal/streams') || url.startsWith('node:internal/stream_base') || url === 'node:events' || url.includes('task_queues') || url === 'node:net', generic: true },
  { name: 'garbage collector', match: (fn) => fn === '(garbage collector)' },
  { name: 'native, not attributed (libuv, nghttp2, syscalls)', match: (fn) => fn === '(program)' },
  { name: 'idle', match: (fn) => fn === '(idle)' },
];

/** One stage's share of a profile. */
export interface StageTime {
  name: string;
  ms: number;
}

/**
 * Time per stage of a CPU profile, by the deepest matching frame of each sample.
 * @throws JanusError JANUS_ERR_ARG_INVALID when the text is not a CPU profile.
 */
export function stageTimes(profileJson: string, stages: readonly Stage[]): StageTime[] {
  const p = parseProfile(profileJson);
  const byId = new Map<number, ProfileNode & { children?: number[] }>();
  for (const node of p.nodes) byId.set(node.id, node);
  const parent = new Map<number, number>();
  for (const node of p.nodes as (ProfileNode & { children?: number[] })[]) for (const c of node.children ?? []) parent.set(c, node.id);
  const stageOf = new Map<number, number>();
  const classify = (id: number): number => {
    const known = stageOf.get(id);
    if (known !== undefined) return known;
    let result = -1;
    let generic = -1;
    for (let cur: number | undefined = id; cur !== undefined && result < 0; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const i = stages.findIndex((s) => s.match(f.functionName, f.url));
      if (i < 0) continue;
      if (!stages[i]!.generic) result = i;
      else if (generic < 0) generic = i;
    }
    if (result < 0) result = generic;
    stageOf.set(id, result);
    return result;
  };
  const us = new Array<number>(stages.length + 1).fill(0);
  for (let i = 0; i < p.samples.length; i++) {
    const k = classify(p.samples[i]!);
    us[k < 0 ? stages.length : k]! += p.timeDeltas[i + 1] ?? 0;
  }
  return [...stages.map((s, i) => ({ name: s.name, ms: us[i]! / 1000 })), { name: 'other', ms: us[stages.length]! / 1000 }];
}

function parseProfile(profileJson: string): Profile {
  let p: Profile;
  try {
    p = JSON.parse(profileJson) as Profile;
  } catch (err) {
    throw new JanusError(ErrorCode.ArgInvalid, `not a CPU profile: ${(err as Error).message}`);
  }
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas)) {
    throw new JanusError(ErrorCode.ArgInvalid, 'not a CPU profile: nodes, samples or timeDeltas missing');
  }
  return p;
}

/**
 * Prints the per-stage table: each stage's share of the per-message time (setup and idle
 * left out) and, given the gateway's measured CPU per message, its µs per message.
 */
function printStages(file: string, usPerMsg: number | null): void {
  const st = stageTimes(readFileSync(file, 'utf8'), GATEWAY_STAGES);
  const perMessage = st.filter((s) => !s.name.startsWith('setup') && s.name !== 'idle');
  const total = perMessage.reduce((a, s) => a + s.ms, 0);
  console.log(`| stage | ms sampled | share | ${usPerMsg === null ? '' : 'µs/msg |'}`);
  console.log(`| --- | ---: | ---: | ${usPerMsg === null ? '' : '---: |'}`);
  for (const s of perMessage.sort((a, b) => b.ms - a.ms)) {
    const share = total > 0 ? s.ms / total : 0;
    console.log(`| ${s.name} | ${s.ms.toFixed(0)} | ${(100 * share).toFixed(1)} % | ${usPerMsg === null ? '' : `${(share * usPerMsg).toFixed(1)} |`}`);
  }
  if (usPerMsg !== null) console.log(`| total | ${total.toFixed(0)} | 100 % | ${usPerMsg.toFixed(1)} |`);
  for (const s of st.filter((x) => x.name.startsWith('setup') || x.name === 'idle')) console.log(`(left out: ${s.name}: ${s.ms.toFixed(0)} ms)`);
}

function main(argv: string[]): number {
  if (argv[0] === '--stages') {
    const [, file, us] = argv;
    if (!file) {
      console.error('usage: node bench/dist/src/cpuprofile.js --stages FILE.cpuprofile [GATEWAY_CPU_US_PER_MSG]');
      return 2;
    }
    const usPerMsg = us === undefined ? null : Number(us);
    if (usPerMsg !== null && !(usPerMsg > 0)) {
      console.error(`GATEWAY_CPU_US_PER_MSG must be a positive number, got ${JSON.stringify(us)} (one profile file per call: the main thread's is *.0.001.cpuprofile)`);
      return 2;
    }
    printStages(file, usPerMsg);
    return 0;
  }
  const [file, nRaw] = argv;
  if (!file) {
    console.error('usage: node bench/dist/src/cpuprofile.js FILE.cpuprofile [N=10] | --stages FILE.cpuprofile [GATEWAY_CPU_US_PER_MSG]');
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
