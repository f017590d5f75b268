/**
 * The open-loop schedule: send number i (0, 1, 2, ...) is due at `startMs + i * 1000 / rate`,
 * whatever happened to the sends before it. Latency is then measured from that scheduled
 * time, not from when the load generator got round to sending, so a system (or a load
 * generator) that falls behind shows its queueing in the latency instead of hiding it by
 * sending less (coordinated omission).
 */
export class OpenLoopSchedule {
  private issued = 0;
  private readonly intervalMs: number;

  /**
   * @param rateHz sends per second, > 0.
   * @param startMs time of send 0 (ms, the clock the caller passes to due()).
   */
  constructor(
    readonly rateHz: number,
    readonly startMs: number,
  ) {
    if (!(rateHz > 0) || !Number.isFinite(rateHz)) throw new RangeError(`rate must be a positive number, got ${rateHz}`);
    this.intervalMs = 1000 / rateHz;
  }

  /** Sends handed out so far. */
  get count(): number {
    return this.issued;
  }

  /** Scheduled time of send number `i` (ms). */
  scheduledAt(i: number): number {
    return this.startMs + i * this.intervalMs;
  }

  /** When the next send not yet handed out is due (ms). */
  nextAt(): number {
    return this.scheduledAt(this.issued);
  }

  /**
   * Hands out every send due at or before `nowMs` that was not handed out yet: calls
   * `send(i, scheduledMs)` for each, in order; returns how many.
   */
  due(nowMs: number, send: (i: number, scheduledMs: number) => void): number {
    let n = 0;
    while (this.scheduledAt(this.issued) <= nowMs) {
      const i = this.issued++;
      send(i, this.scheduledAt(i));
      n++;
    }
    return n;
  }
}
