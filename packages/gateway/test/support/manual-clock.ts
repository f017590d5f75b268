import type { Clock, TimerHandle } from '../../src/clock.js';

/**
 * A clock that moves only when the test says so. Wall time (`now()`) and monotonic time
 * (`monotonic()`) move together under advance(); stepWall() moves the wall clock alone, as an
 * NTP step or an operator's `date -s` does. Timers run on monotonic time.
 */
export class ManualClock implements Clock {
  private timers = new Map<object, { at: number; fn: () => void }>();
  private mono = 0;

  constructor(private wall = Date.now()) {}

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h = { __timer: true } as const;
    this.timers.set(h, { at: this.mono + ms, fn });
    return h;
  }

  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h as object);
  }

  /** Moves both clocks forward by `ms`, firing due timers in order (timers they set included). */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      let next: [object, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      const at = Math.max(this.mono, next[1].at);
      this.wall += at - this.mono;
      this.mono = at;
      next[1].fn();
    }
    this.wall += end - this.mono;
    this.mono = end;
  }

  /** Steps the wall clock by `ms` (negative: back); monotonic time and timers do not move. */
  stepWall(ms: number): void {
    this.wall += ms;
  }
}
