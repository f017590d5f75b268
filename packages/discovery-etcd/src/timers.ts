/**
 * What the etcd adapters need of a clock (the gateway's Clock port fits it), and the retry
 * delay: exponential with jitter, so many gateways that lost etcd at once do not come back
 * in step.
 */

/** Monotonic time and one-shot timers; a timer must not keep the process alive. */
export interface Timers {
  /** Monotonic time (ms from an arbitrary origin, never steps): the lease's age is measured on it. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd, and performance.now(). */
export const nodeTimers: Timers = {
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(h) {
    clearTimeout(h as NodeJS.Timeout);
  },
};

/**
 * Retry delays: the n-th consecutive failure waits a random time in [d/2, d), d =
 * min(maxMs, minMs * 2^n) ("equal jitter"). `reset()` after a success.
 */
export class Backoff {
  private failures = 0;

  /** @param random a source in [0, 1); Math.random by default. */
  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next try (ms), counting one more failure. */
  next(): number {
    const d = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return d / 2 + this.random() * (d / 2);
  }

  reset(): void {
    this.failures = 0;
  }

  /** Failures since the last reset (0: the last try worked, or none was made). */
  get streak(): number {
    return this.failures;
  }
}

/** The minimal logger the adapters write to (pino's Logger fits it). */
export interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** A logger that drops everything. */
export const silentLog: Log = { info() {}, warn() {} };

/**
 * `p`, holding the process open until it settles: the adapters' timers are unref'd, so a
 * caller awaiting a first registration or listing with nothing else alive (no listener yet)
 * would otherwise see the process end while etcd is unreachable.
 */
export function holdingProcess<T>(p: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 60_000);
  const release = (): void => clearInterval(hold);
  p.then(release, release);
  return p;
}
