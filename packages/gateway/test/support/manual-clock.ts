import type { Clock, TimerHandle } from '../../src/clock.js';

/** A clock that moves only when the test says so. */
export class ManualClock implements Clock {
  private timers = new Map<object, { at: number; fn: () => void }>();

  constructor(private t = Date.now()) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h = { __timer: true } as const;
    this.timers.set(h, { at: this.t + ms, fn });
    return h;
  }

  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h as object);
  }

  /** Moves time forward by `ms`, firing due timers in order (timers they set included). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [object, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }
}
