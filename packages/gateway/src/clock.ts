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

/**
 * Wall time, monotonic time and one-shot timers (ms). The contract every adapter passes
 * (test/clock.contract.test.ts: systemClock and ManualClock).
 */
export interface Clock {
  /** Wall time (ms since the epoch): only for timestamps on the wire and peer clock checks. */
  now(): number;
  /** Monotonic time (ms from an arbitrary origin, never goes back): for every interval and deadline. */
  monotonic(): number;
  /**
   * Calls `fn` once, never inside this call and never before `ms` milliseconds of
   * monotonic() have passed; timers fire in order of due time, and `fn` may set timers
   * itself. A negative or NaN `ms` is 0. Timers do not keep the process alive.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer: `fn` will not run. A fired or cleared timer's handle is ignored. */
  clearTimeout(h: TimerHandle): void;
}

/** Node's longest timer delay (ms): Node runs a longer one after 1 ms, so longer waits take several legs. */
const TIMEOUT_MAX_MS = 2 ** 31 - 1;

/** A Node timeout delay for `ms`: within [1, TIMEOUT_MAX_MS]. */
const nodeDelay = (ms: number): number => Math.min(Math.max(ms, 1), TIMEOUT_MAX_MS);

/** One timer of a {@link SystemClock}: the Node timeout of its current leg. */
class SystemTimer {
  readonly __timer = true as const;
  node: NodeJS.Timeout | null = null;

  constructor(
    readonly fn: () => void,
    /** performance.now() at which it is due (ms). */
    readonly due: number,
  ) {}
}

/**
 * The real clock: Date.now() for wall time; performance.now() for monotonic time, and Node's
 * timers (unref'd) checked against it.
 *
 * Why the check: libuv schedules on a millisecond clock of its own (truncated, cached per
 * loop iteration, CLOCK_MONOTONIC_COARSE where that is fine enough), so Node may run a
 * timeout up to a tick before `ms` have passed on performance.now(), about one timer in a
 * hundred at a few ms. A deadline checked against monotonic() in the callback must find
 * itself reached, so a leg that ends early is re-armed for the rest. The re-armed timers wait
 * in `early` (by due time): a later-due timer that fires on time runs the ones due before it
 * first, so the order of due times holds as Node's own order does.
 */
class SystemClock implements Clock {
  /** Timers Node ran before their due time, re-armed; sorted by due. */
  private readonly early: SystemTimer[] = [];

  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delay = ms > 0 ? ms : 0; // NaN and negative delays: as soon as possible, as Node's
    const t = new SystemTimer(fn, performance.now() + delay);
    this.arm(t, delay);
    return t;
  }

  clearTimeout(h: TimerHandle): void {
    if (!(h instanceof SystemTimer)) return clearTimeout(h as NodeJS.Timeout);
    if (h.node) clearTimeout(h.node);
    h.node = null;
    this.unqueue(h);
  }

  private arm(t: SystemTimer, ms: number): void {
    t.node = setTimeout(() => this.fire(t), nodeDelay(ms));
    t.node.unref();
  }

  private fire(t: SystemTimer): void {
    const left = t.due - performance.now();
    if (left > 0) {
      this.arm(t, Math.ceil(left));
      this.unqueue(t); // a re-armed leg may end early too
      let i = this.early.length;
      while (i > 0 && this.early[i - 1]!.due > t.due) i--;
      this.early.splice(i, 0, t);
      return;
    }
    this.unqueue(t);
    t.node = null;
    // Due before this one, so they go first (their own legs are cancelled).
    while (this.early.length > 0 && this.early[0]!.due <= t.due) {
      const e = this.early.shift()!;
      if (e.node) clearTimeout(e.node);
      e.node = null;
      e.fn();
    }
    t.fn();
  }

  private unqueue(t: SystemTimer): void {
    const i = this.early.indexOf(t);
    if (i >= 0) this.early.splice(i, 1);
  }
}

/** The process's real clock (the gateway's default). */
export const systemClock: Clock = new SystemClock();
