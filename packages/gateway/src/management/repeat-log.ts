/**
 * Aggregation of repeated log events, so a flood (a reconnect storm, accept failing with
 * EMFILE, a backend down) cannot spam the log: per event key, at most `burst` lines in one
 * window of `intervalMs`; the rest are only counted, and one summary line with the count
 * (`repeated: N`) is written when the window ends.
 *
 * Design: a window starts at the first line of a key; a timer (Clock port, so tests drive it)
 * is armed only once a key is suppressed, and writes the summary at the window's end. Keys
 * are a fixed set chosen by the code (close reasons, listener error codes, service names),
 * so the state is bounded.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';

/** Levels an aggregated event may use. */
export type RepeatLevel = 'error' | 'warn' | 'info' | 'debug';

interface KeyState {
  windowStart: number;
  lines: number;
  suppressed: number;
  timer: TimerHandle | null;
  level: RepeatLevel;
  msg: string;
}

/** One gateway's aggregation of repeated log events. */
export class RepeatLog {
  private readonly keys = new Map<string, KeyState>();
  private closed = false;

  /**
   * @param root the logger summary lines go to (not a connection's: they speak for many).
   * @param clock wall time and timers.
   * @param intervalMs window length (ms).
   * @param burst lines per key per window before lines are only counted (>= 1).
   */
  constructor(
    private readonly root: Logger,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly burst: number,
  ) {}

  /**
   * Writes `msg` with `fields` to `logger` at `level`, unless `key` has had its lines in this
   * window; then it is counted into the window's summary line. `burst` overrides the
   * default for this key (1: at most once per window, for errors).
   */
  log(level: RepeatLevel, key: string, logger: Logger, fields: object, msg: string, burst = this.burst): void {
    if (!logger.isLevelEnabled(level)) return;
    const now = this.clock.now();
    let k = this.keys.get(key);
    if (!k || (k.timer === null && now - k.windowStart >= this.intervalMs)) {
      k = { windowStart: now, lines: 0, suppressed: 0, timer: null, level, msg };
      this.keys.set(key, k);
    }
    if (k.lines < burst) {
      k.lines++;
      logger[level](fields, msg);
      return;
    }
    k.suppressed++;
    k.level = level;
    k.msg = msg;
    if (k.timer === null && !this.closed) {
      const state = k;
      k.timer = this.clock.setTimeout(() => this.summarize(key, state), Math.max(1, state.windowStart + this.intervalMs - now));
    }
  }

  /** Writes the summaries still pending and stops the timers (the gateway stops). */
  close(): void {
    this.closed = true;
    for (const [key, k] of this.keys) {
      if (k.timer) this.clock.clearTimeout(k.timer);
      if (k.suppressed > 0) this.summarize(key, k);
    }
    this.keys.clear();
  }

  private summarize(key: string, k: KeyState): void {
    k.timer = null;
    const n = k.suppressed;
    k.suppressed = 0;
    if (n > 0) this.root[k.level]({ event: key, repeated: n, intervalMs: this.intervalMs }, `${k.msg} (${n} more not logged in this ${this.intervalMs} ms window)`);
    // The next line of this key opens a new window.
    this.keys.delete(key);
  }
}
