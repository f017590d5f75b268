/**
 * What bench:compare needs from each system it compares: start its processes, open client
 * sessions (one adapter per system), measure its processes, stop them.
 */
import { createServer } from 'node:net';
import type { ProcessUsage } from '../ipc.js';

/** The systems bench:compare knows. */
export const SYSTEM_NAMES = ['janus', 'pinus', 'proxy', 'janus-plaintext'] as const;
/** The systems a default run compares (janus-plaintext only when asked for). */
export const DEFAULT_SYSTEMS: readonly SystemName[] = ['janus', 'pinus', 'proxy'];
/** One of {@link SYSTEM_NAMES}. */
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** One client session of a system, as the load generator drives it. */
export interface BenchSession {
  /** Sends one echo request with the run's payload; resolves true when the reply carried the same payload. */
  echo(): Promise<boolean>;
  /** Joins room `room` (push scenario); resolves on the reply. */
  join(room: number): Promise<void>;
  /** Says `text` in room `room`; resolves on the reply (the pushes follow separately). */
  say(room: number, text: string): Promise<void>;
  /** Receives the text of every room message pushed to this session. */
  onPush(fn: (text: string) => void): void;
  /** True once the session's connection is gone. */
  readonly closed: boolean;
  /** Closes the session; never rejects. */
  close(): Promise<void>;
}

/** Role of a measured process: the client-facing process, the backend, or pinus's master. */
export type ProcessRole = 'front' | 'backend' | 'master';

/** A process of a running system whose resource usage the report shows. */
export interface MeasuredProcess {
  role: ProcessRole;
  /** e.g. `gateway`, `connector`, `proxy`, `demo backend`, `echo server`. */
  label: string;
  usage(): Promise<ProcessUsage>;
}

/** A started system. */
export interface RunningSystem {
  readonly name: SystemName;
  readonly processes: readonly MeasuredProcess[];
  /**
   * Rejects when one of the system's processes exits before stop() (never resolves); race
   * every wait against it.
   */
  readonly failed: Promise<never>;
  /**
   * Opens client session number `index` (0-based; Janus and pinus use uid index + 1).
   * @throws an Error of the system's client when the session cannot open.
   */
  connect(index: number): Promise<BenchSession>;
  /** Stops every process of the system (gracefully, then SIGKILL); idempotent, never rejects. */
  stop(): Promise<void>;
}

/** What every system start gets. */
export interface StartContext {
  /** The echo request data (bytes; the pinus adapter sends it as a string of as many ASCII characters). */
  payload: Uint8Array;
  /** Progress and child output lines. */
  log: (line: string) => void;
}

/** Starts a system. */
export type SystemStarter = (ctx: StartContext) => Promise<RunningSystem>;

/**
 * A port that was free on 127.0.0.1 a moment ago (bound to port 0, then released), for
 * programs that need their ports written in a config file before they start (pinus).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `size` bytes of the bench's fixed, non-constant pattern (as bench/src/run.ts uses). */
export function patternPayload(size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

/** A promise that rejects with `err()` once `exited` resolves, unless disarmed first. */
export function failWhenExited(exits: ReadonlyArray<{ exited: Promise<unknown>; error: () => Error }>): { failed: Promise<never>; disarm: () => void } {
  let armed = true;
  let rejectFn: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (rejectFn = reject));
  failed.catch(() => {});
  for (const e of exits) void e.exited.then(() => armed && rejectFn(e.error()));
  return { failed, disarm: () => (armed = false) };
}
