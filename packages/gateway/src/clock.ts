/**
 * The Clock port: wall time and timers, so tests drive heartbeats and timeouts with a
 * manual clock instead of real sleeps (STYLE.md tier c).
 */

/** An opaque timer handle. */
export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout;

/** Wall time (ms since the epoch) and one-shot timers. */
export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. Timers do not keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: Date.now,
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(h) {
    clearTimeout(h as NodeJS.Timeout);
  },
};
