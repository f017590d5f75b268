/**
 * What the handshake and memory benches share: `--name value` options, the demo backend and
 * a session gateway child (session-gateway-proc.ts) on free loopback ports, CPU figures
 * from two usage samples, and the run's context line.
 */
import { cpus } from 'node:os';
import { ErrorCode, JanusError } from '@janus/protocol';
import { BenchChild } from './child.js';
import { GATEWAY_CONFIG_ENV, type ProcessUsage } from './ipc.js';
import { benchGatewayConfig, describeCommit, GATEWAY_NODE_FLAGS } from './run.js';
import { CRYPTO_NICE_ENV, CRYPTO_THREADS_ENV } from './session-ipc.js';

/**
 * Reads `--name value` pairs (and `--name` alone for a flag in `flags`) into a map.
 * @throws JanusError JANUS_ERR_ARG_INVALID for an option not in `known` or without a value.
 */
export function parseOptions(argv: string[], known: readonly string[], flags: readonly string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.replace(/^--/, '');
    if (!a.startsWith('--') || (!known.includes(name) && !flags.includes(name))) throw new JanusError(ErrorCode.ArgInvalid, `unknown option ${a}`);
    if (flags.includes(name)) {
      out.set(name, 'true');
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new JanusError(ErrorCode.ArgInvalid, `${a} needs a value`);
    out.set(name, v);
  }
  return out;
}

/**
 * A positive integer option, or `dflt`.
 * @throws JanusError JANUS_ERR_ARG_INVALID when present and not an integer >= min.
 */
export function intOption(o: Map<string, string>, name: string, dflt: number, min = 1): number {
  const v = o.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new JanusError(ErrorCode.ArgInvalid, `--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}

/** Cores used between two usage samples of one child: CPU seconds per wall second. */
export function coresBetween(a: ProcessUsage, b: ProcessUsage): number {
  const wallUs = Number(BigInt(b.atNs) - BigInt(a.atNs)) / 1000;
  return wallUs > 0 ? cpuUsBetween(a, b) / wallUs : 0;
}

/** CPU microseconds (user + system, every thread) between two usage samples. */
export function cpuUsBetween(a: ProcessUsage, b: ProcessUsage): number {
  return b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
}

/** Event loop busy share (0..1) between two samples. */
export function eluBetween(a: ProcessUsage, b: ProcessUsage): number {
  const idle = b.elu.idle - a.elu.idle;
  const active = b.elu.active - a.elu.active;
  return idle + active > 0 ? active / (idle + active) : 0;
}

/** Starts the demo backend child. */
export function startBackend(log: (line: string) => void): Promise<BenchChild> {
  return BenchChild.start({ name: 'backend', script: new URL('./backend-proc.js', import.meta.url), onLine: (l) => log(`[backend] ${l}`) });
}

/** How to start a session gateway child. */
export interface SessionGatewaySpec {
  keysDir: string;
  backendPort: number;
  /** Crypto pool threads; 0 = inline; undefined = the pool's default. */
  cryptoThreads?: number;
  /** OS nice value of the crypto pool's threads; undefined = the pool's default (19). */
  cryptoNice?: number;
  execArgv?: string[];
  log: (line: string) => void;
}

/** Starts session-gateway-proc.ts with the bench gateway config (run.ts benchGatewayConfig). */
export function startSessionGateway(s: SessionGatewaySpec): Promise<BenchChild> {
  const env: Record<string, string> = { [GATEWAY_CONFIG_ENV]: JSON.stringify(benchGatewayConfig(s.keysDir, s.backendPort)) };
  if (s.cryptoThreads !== undefined) env[CRYPTO_THREADS_ENV] = String(s.cryptoThreads);
  if (s.cryptoNice !== undefined) env[CRYPTO_NICE_ENV] = String(s.cryptoNice);
  return BenchChild.start({
    name: 'gateway',
    script: new URL('./session-gateway-proc.js', import.meta.url),
    env,
    execArgv: [...GATEWAY_NODE_FLAGS, ...(s.execArgv ?? [])],
    readyTimeoutMs: 30000,
    onLine: (l) => s.log(`[gateway] ${l}`),
  });
}

/** `node vX, N x CPU model, code <git describe>`: the context of a run's figures. */
export function machineLine(): string {
  return `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown'}, code ${describeCommit()}`;
}
