/**
 * The Clock port: two clocks and timers, so tests drive heartbeats and timeouts with a
 * manual clock instead of real sleeps (STYLE.md tier c).
 *
 * Wall time can step (NTP, an operator's `date -s`, a VM resumed): it is read only for
 * timestamps on the wire and checks against the peer's clock (server_time, the handshake
 * skew, token expiry, the heartbeat's ErrTime). Every interval and deadline (idle timeout,
 * token buckets, backoff, route table TTLs, timers) runs on monotonic time, which never
 * steps.
 */
import { performance } from 'node:perf_hooks';

/** An opaque timer handle. */
export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout;

/** Wall time, monotonic time and one-shot timers (ms). */
export interface Clock {
  /** Wall time (ms since the epoch): only for timestamps on the wire and peer clock checks. */
  now(): number;
  /** Monotonic time (ms from an arbitrary origin, never steps): for every interval and deadline. */
  monotonic(): number;
  /** Calls `fn` once after `ms` milliseconds of monotonic time. Timers do not keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

/** The real clock: Date.now() for wall time; performance.now() and Node's timers (libuv's monotonic clock) for the rest. */
export const systemClock: Clock = {
  now: Date.now,
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
