/**
 * The Clock port's manual adapter: time moves only when the caller says so, so a test drives
 * a gateway's heartbeats, deadlines and renewals without real sleeps (STYLE.md tier c). It
 * passes the same contract suite as systemClock (test/clock.contract.test.ts).
 * docs/decisions/0025-manual-clock-in-the-library.md.
 */
import { ErrorCode, JanusError } from '@janus/protocol';
import type { Clock, TimerHandle } from './clock.js';

interface ManualTimer {
  /** Due at this monotonic time (ms). */
  at: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. Wall time (`now()`) and monotonic time
 * (`monotonic()`) move together under advance(); stepWall() moves the wall clock alone, as an
 * NTP step or an operator's `date -s` does. Timers run on monotonic time and fire only inside
 * advance(), in order of due time (timers due at the same time in the order they were set).
 * Nothing here holds the process open.
 */
export class ManualClock implements Clock {
  private timers = new Map<object, ManualTimer>();
  private mono = 0;

  /**
   * @param wall the wall time to start at (ms since the epoch); default Date.now().
   *   Monotonic time starts at 0.
   */
  constructor(private wall = Date.now()) {}

  /** Wall time (ms since the epoch): the start value, moved by advance() and stepWall(). */
  now(): number {
    return this.wall;
  }

  /** Monotonic time (ms from 0 at construction), moved by advance() only. */
  monotonic(): number {
    return this.mono;
  }

  /**
   * Calls `fn` once, in the advance() that reaches `ms` past the current monotonic time (a
   * negative or NaN `ms` is 0: the next advance(), even of 0 ms).
   */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h = { __timer: true } as const;
    this.timers.set(h, { at: this.mono + (ms > 0 ? ms : 0), fn });
    return h;
  }

  /** Cancels a pending timer; a timer that fired or was cleared already is ignored. */
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h as object);
  }

  /**
   * Moves both clocks forward by `ms`, firing due timers in order (timers they set
   * included). Each timer runs with both clocks at its due time; a timer that throws leaves
   * the clocks there and the error propagates to the caller.
   * @throws JanusError JANUS_ERR_ARG_INVALID when `ms` is negative or NaN (monotonic time
   *   never goes back).
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new JanusError(ErrorCode.ArgInvalid, `ManualClock.advance(${ms}): monotonic time only moves forward`, { ms });
    const end = this.mono + ms;
    for (;;) {
      let next: [object, ManualTimer] | undefined;
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
