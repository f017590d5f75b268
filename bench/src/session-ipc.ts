/**
 * Names and shapes shared by the handshake and memory benches and their child programs
 * (session-gateway-proc.ts, storm-proc.ts), apart from those programs so importing them
 * does not start a child.
 */

/** Environment variable with the crypto pool size of the gateway child (0 = inline). */
export const CRYPTO_THREADS_ENV = 'JANUS_BENCH_CRYPTO_THREADS';

/** Environment variable with the OS nice value of the gateway child's crypto pool threads (CryptoPoolOptions.workerNice). */
export const CRYPTO_NICE_ENV = 'JANUS_BENCH_CRYPTO_NICE';

/** Environment variable with the storm child's {@link StormSpec} as JSON. */
export const STORM_ENV = 'JANUS_BENCH_STORM';

/** Microseconds per call of each server-side handshake primitive (node:crypto, synchronous). */
export interface PrimitiveCosts {
  ed25519Verify: number;
  x25519Generate: number;
  x25519Derive: number;
  ed25519Sign: number;
  /** Two SHA-256: cs_body for the signature input, client_pub || server_pub for the salt. */
  sha256x2: number;
  hkdf88: number;
  /** The sum of the above: the crypto of one server handshake. */
  sum: number;
}

/** Memory of the gateway child (bytes), after a full GC when `gc` is true. */
export interface MemorySample {
  gc: boolean;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  connections: number;
  sessions: number;
}

/** The gateway child's event loop delay since the last reset (ms; perf_hooks.monitorEventLoopDelay, 1 ms resolution). */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** One line of a heap summary: a constructor's objects in the heap. */
export interface HeapRow {
  name: string;
  count: number;
  /** Shallow size summed (bytes). */
  selfBytes: number;
}

/** CPU time of one thread of the gateway child so far (Linux /proc; ms, user and system). */
export interface ThreadCpu {
  tid: number;
  /** The thread's name (`node` for the main thread, worker threads and V8's helpers on Node 20, `libuv-worker`...). */
  name: string;
  userMs: number;
  systemMs: number;
}

/** What the storm child does. */
export interface StormSpec {
  /** Gateway TCP port on 127.0.0.1. */
  port: number;
  /** The bench key directory (keys.ts). */
  keysDir: string;
  /** Sessions per round, all connecting at once. */
  clients: number;
  /** uids are uidBase+1 .. uidBase+clients (apart from the open sessions' uids). */
  uidBase: number;
  /** Rounds to run, then idle; 0 = until stopped. */
  rounds: number;
  /** OS nice value of every thread of the storm child, -20..19 (0 = as the bench). */
  nice: number;
}

/** Counters of the storm so far. */
export interface StormStats {
  rounds: number;
  /** Every round asked for has ended (all its sessions opened or failed, and closed). */
  done: boolean;
  /** Sessions that reached SCAuth. */
  opened: number;
  failed: Record<string, number>;
  firstFailure?: string;
}

/**
 * Bytes on the wire of the four frames that open a Janus session of the bench (length
 * prefix included; encrypted, the bench keys and tokens; counted through a TCP proxy at
 * c1625eb), which the bare TCP floor of the handshake bench (tcp-floor-proc.ts) sends and
 * awaits in the same order.
 */
export const FLOOR_FRAMES = { clientHandshake: 120, serverHandshake: 125, clientAuth: 87, serverAuth: 41 } as const;
