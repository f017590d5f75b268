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

/** An opaque timer handle: only the clock that made it can clear it. */
export type TimerHandle = { readonly __timer: true };

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
   * monotonic() have passed; timers fire in order of due time (due at the same time: in
   * the order set), and `fn` may set timers itself. A negative or NaN `ms` is 0. Timers do
   * not keep the process alive.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /**
   * Cancels a pending timer: `fn` will not run. A fired or cleared timer's handle is
   * ignored, as is a handle another clock made.
   */
  clearTimeout(h: TimerHandle): void;
}

/** Node's longest timer delay (ms): Node runs a longer one after 1 ms, so longer waits take several wake-ups. */
const TIMEOUT_MAX_MS = 2 ** 31 - 1;

/** One timer of a {@link SystemClock}. */
class SystemTimer {
  readonly __timer = true as const;
  /** Its place in the clock's heap; -1 once it fired or was cleared. */
  index = -1;

  constructor(
    readonly fn: () => void,
    /** performance.now() at which it is due (ms). */
    readonly due: number,
    /** Set order, for timers due at the same time. */
    readonly seq: number,
  ) {}
}

const earlier = (a: SystemTimer, b: SystemTimer): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq);

/**
 * The real clock: Date.now() for wall time, performance.now() for monotonic time, and timers
 * kept in a min-heap by due time on performance.now(), woken by one unref'd Node timeout
 * armed for the earliest.
 *
 * Why not one Node timeout per timer: libuv schedules on a millisecond clock of its own,
 * truncated and cached per loop iteration (CLOCK_MONOTONIC_COARSE where that is fine enough).
 * A timeout may then run up to a tick before `ms` have passed on performance.now() (about
 * one in a hundred at a few ms), and timeouts set during a long synchronous stretch all
 * count from its start, so one set later with a shorter delay runs before one due earlier.
 * A deadline checked against monotonic() in the callback must find itself reached, and the
 * order of due times must hold. Here a wake-up that comes early runs nothing and is armed
 * again for the rest; one that comes late runs everything due by then, in due order.
 */
class SystemClock implements Clock {
  private readonly heap: SystemTimer[] = [];
  private seq = 0;
  private wake: NodeJS.Timeout | null = null;
  /** The due time the wake-up is armed for (Infinity: none). */
  private wakeFor = Infinity;

  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delay = ms > 0 ? ms : 0; // NaN and negative delays: as soon as possible, as Node's
    const t = new SystemTimer(fn, performance.now() + delay, this.seq++);
    t.index = this.heap.length;
    this.heap.push(t);
    this.up(t.index);
    if (t.index === 0) this.arm();
    return t;
  }

  clearTimeout(h: TimerHandle): void {
    if (!(h instanceof SystemTimer) || h.index < 0) return;
    this.remove(h.index);
    // A wake-up armed for an earlier time than the heap's new first finds nothing and re-arms.
    if (this.heap.length === 0) this.disarm();
  }

  private arm(): void {
    const first = this.heap[0];
    if (!first) return this.disarm();
    if (this.wake !== null && this.wakeFor <= first.due) return;
    if (this.wake !== null) clearTimeout(this.wake);
    this.wakeFor = first.due;
    this.wake = setTimeout(() => this.fire(), Math.min(Math.max(Math.ceil(first.due - performance.now()), 1), TIMEOUT_MAX_MS));
    this.wake.unref();
  }

  private disarm(): void {
    if (this.wake !== null) clearTimeout(this.wake);
    this.wake = null;
    this.wakeFor = Infinity;
  }

  private fire(): void {
    this.wake = null;
    this.wakeFor = Infinity;
    const now = performance.now();
    try {
      // Timers set by these callbacks are due after `now` (or at it, and run after them).
      while (this.heap.length > 0 && this.heap[0]!.due <= now) {
        const t = this.heap[0]!;
        this.remove(0);
        t.fn();
      }
    } finally {
      // Also after a callback threw (it reaches the process as a Node timer's would).
      this.arm();
    }
  }

  private remove(i: number): void {
    const h = this.heap;
    const gone = h[i]!;
    const last = h.pop()!;
    gone.index = -1;
    if (last === gone) return;
    h[i] = last;
    last.index = i;
    this.up(i);
    this.down(last.index);
  }

  private up(i: number): void {
    const h = this.heap;
    const t = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (!earlier(t, p)) break;
      h[i] = p;
      p.index = i;
      i = parent;
    }
    h[i] = t;
    t.index = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const t = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && earlier(h[r]!, h[l]!) ? r : l;
      if (!earlier(h[c]!, t)) break;
      h[i] = h[c]!;
      h[i]!.index = i;
      i = c;
    }
    h[i] = t;
    t.index = i;
  }
}

/** The process's real clock (the gateway's default). */
export const systemClock: Clock = new SystemClock();
