/**
 * The load generator's drivers for bench:compare, the same for every system (they only see
 * BenchSession): closed-loop echo, open-loop echo at a fixed rate, and the push scenario.
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from '../histogram.js';
import { OpenLoopSchedule } from './schedule.js';
import type { BenchSession } from './system.js';

/** Counters of one run, shared by every session's loop. Times in ms. */
export class DriveCounters {
  /** Latency of replies (or pushes) received while `measuring`. */
  readonly latency = new LatencyHistogram();
  /** Open loop: how late the load generator sent, after the scheduled time. */
  readonly sendLag = new LatencyHistogram();
  /** Replies (echo) or delivered pushes (push scenario) while `measuring`. */
  done = 0;
  /** Push scenario: Say requests answered while `measuring`. */
  says = 0;
  /** Open loop: sends scheduled while `measuring`. */
  offered = 0;
  /** Failed requests by message (all phases). */
  readonly errors = new Map<string, number>();
  /** Echo replies whose payload differed from the request's. */
  mismatches = 0;
  /** Count samples (set after the warmup, cleared at the end of the window). */
  measuring = false;

  /** Counts one failure. */
  error(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.errors.set(msg, (this.errors.get(msg) ?? 0) + 1);
  }

  /** Forgets the samples of the warmup (errors and mismatches are kept). */
  resetWindow(): void {
    this.latency.reset();
    this.sendLag.reset();
    this.done = 0;
    this.says = 0;
    this.offered = 0;
  }
}

/**
 * One closed loop per session until `running()` is false: echo, await the reply, record
 * it, repeat. Resolves when every loop has finished its request in flight.
 */
export async function closedLoop(sessions: readonly BenchSession[], c: DriveCounters, running: () => boolean): Promise<void> {
  const loop = async (s: BenchSession): Promise<void> => {
    while (running() && !s.closed) {
      const t0 = performance.now();
      try {
        const same = await s.echo();
        if (c.measuring) {
          c.done++;
          c.latency.record(performance.now() - t0);
        }
        if (!same) c.mismatches++;
      } catch (err) {
        c.error(err);
      }
    }
  };
  await Promise.all(sessions.map(loop));
}

/** How far ahead of the next due send the open-loop timer is allowed to sleep (ms). */
const MAX_SLEEP_MS = 5;

/**
 * Open loop: echo requests at `rateHz` in all, round-robin over the sessions, whether or not
 * earlier replies have come back (a session may then have several in flight). Latency runs
 * from each send's scheduled time (schedule.ts). Stops scheduling when `running()` turns
 * false, then waits for the replies still in flight (bounded by each client's own
 * request timeout).
 */
export async function openLoop(sessions: readonly BenchSession[], rateHz: number, c: DriveCounters, running: () => boolean): Promise<void> {
  const schedule = new OpenLoopSchedule(rateHz, performance.now());
  const inFlight = new Set<Promise<void>>();
  const send = (i: number, scheduledMs: number): void => {
    const s = sessions[i % sessions.length]!;
    if (s.closed) return;
    const measured = c.measuring;
    if (measured) {
      c.offered++;
      c.sendLag.record(performance.now() - scheduledMs);
    }
    const p = s.echo().then(
      (same) => {
        if (measured && c.measuring) {
          c.done++;
          c.latency.record(performance.now() - scheduledMs);
        }
        if (!same) c.mismatches++;
      },
      (err: unknown) => c.error(err),
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  while (running()) {
    schedule.due(performance.now(), send);
    // Node timers have a 1 ms granularity: sends due within a tick go out together (each still
    // timed from its own scheduled time); sleeping at least 1 ms keeps this loop from spinning.
    const wait = Math.min(MAX_SLEEP_MS, Math.max(1, schedule.nextAt() - performance.now()));
    await new Promise<void>((r) => setTimeout(r, wait));
  }
  await Promise.all([...inFlight]);
}

/** Shape of the push scenario. */
export interface PushShape {
  /** Sessions per room (the last room may have fewer). */
  roomSize: number;
  /** Senders per room: the first members of each room, each a closed loop of Say. */
  sendersPerRoom: number;
  /** Characters of each Say's text (the tag plus padding). */
  textChars: number;
  /** A sender that has not seen its own message pushed back within this long gives up on it (ms). */
  pushTimeoutMs: number;
}

/** The room (1-based) of session `index`. */
export function roomOf(index: number, roomSize: number): number {
  return 1 + Math.floor(index / roomSize);
}

/** `sender:n:sentAtMs` padded with '.' to `chars` characters. */
export function pushText(sender: number, n: number, sentAtMs: number, chars: number): string {
  const tag = `${sender}:${n}:${sentAtMs.toFixed(3)}:`;
  return tag.length >= chars ? tag : tag + '.'.repeat(chars - tag.length);
}

/** The sender, message number and send time of a push text; null when not one of ours. */
export function parsePushText(text: string): { sender: number; n: number; sentAtMs: number } | null {
  const parts = text.split(':', 3);
  if (parts.length < 3) return null;
  const sender = Number(parts[0]);
  const n = Number(parts[1]);
  const sentAtMs = Number(parts[2]);
  return Number.isInteger(sender) && Number.isInteger(n) && Number.isFinite(sentAtMs) ? { sender, n, sentAtMs } : null;
}

/**
 * Joins every session to its room (roomOf), `concurrency` at a time; failures counted.
 * Resolves when all joins have been answered.
 */
export async function joinRooms(sessions: readonly BenchSession[], roomSize: number, concurrency: number, c: DriveCounters): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions.length) {
      const i = next++;
      await sessions[i]!.join(roomOf(i, roomSize)).catch((err: unknown) => c.error(err));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sessions.length) }, worker));
}

/**
 * The push scenario, after joinRooms: every session records each room message pushed to it
 * (latency from the sender's send time, carried in the text: one process, one clock); each
 * sender loops: Say, then wait for the reply and for its own copy of the push, repeat.
 * `done` counts delivered pushes, `says` answered Says.
 */
export async function pushLoop(sessions: readonly BenchSession[], shape: PushShape, c: DriveCounters, running: () => boolean): Promise<void> {
  const waiting = new Map<number, { n: number; resolve: () => void }>();
  sessions.forEach((s, idx) => {
    s.onPush((text) => {
      const m = parsePushText(text);
      if (!m) return;
      if (c.measuring) {
        c.done++;
        c.latency.record(performance.now() - m.sentAtMs);
      }
      if (m.sender === idx) {
        const w = waiting.get(idx);
        if (w && w.n === m.n) {
          waiting.delete(idx);
          w.resolve();
        }
      }
    });
  });
  const senders: number[] = [];
  for (let i = 0; i < sessions.length; i++) if (i % shape.roomSize < shape.sendersPerRoom) senders.push(i);
  const loop = async (idx: number): Promise<void> => {
    const s = sessions[idx]!;
    const room = roomOf(idx, shape.roomSize);
    for (let n = 1; running() && !s.closed; n++) {
      let timer: NodeJS.Timeout | undefined;
      const own = new Promise<void>((resolve, reject) => {
        waiting.set(idx, { n, resolve });
        timer = setTimeout(() => reject(new Error(`own push not seen within ${shape.pushTimeoutMs} ms`)), shape.pushTimeoutMs);
      });
      try {
        await Promise.all([s.say(room, pushText(idx, n, performance.now(), shape.textChars)).then(() => c.measuring && c.says++), own]);
      } catch (err) {
        c.error(err);
      } finally {
        clearTimeout(timer);
        waiting.delete(idx);
      }
    }
  };
  await Promise.all(senders.map(loop));
}
