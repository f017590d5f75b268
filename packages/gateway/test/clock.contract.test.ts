/**
 * One contract suite for the Clock port (src/clock.ts), run against both adapters: the real
 * clock (systemClock: a timer heap on performance.now() woken by a Node timeout) and ManualClock. The
 * system clock's tests wait for its timers to fire (events, a few ms each) and assert only
 * orders and lower bounds of monotonic time, never how long anything took; the manual clock
 * is moved by advance(). Whether a pending timer holds the process open is checked in a
 * child process that imports the built module.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { systemClock, type Clock, type TimerHandle } from '../src/clock.js';
import { ManualClock } from '../src/manual-clock.js';

interface ClockFixture {
  clock: Clock;
  /**
   * Lets `ms` of the clock's monotonic time pass, then resolves once `until` has. The system
   * clock cannot be hurried: it only waits for `until` (a timer of the test firing).
   */
  elapse(ms: number, until: Promise<unknown>): Promise<void>;
  /** How a child process builds the same clock: the built module and an expression of its exports `m`. */
  child: { module: string; make: string };
}

/**
 * A timer of `clock` that records its firings and the monotonic time of each. `setAt` and
 * `setDone` are monotonic time just before and just after setTimeout: the clock took its
 * start in between.
 */
function timer(clock: Clock, ms: number, onFire?: () => void): { handle: TimerHandle; setAt: number; setDone: number; firedAt: number[]; fired: Promise<void> } {
  const firedAt: number[] = [];
  const setAt = clock.monotonic();
  let resolve!: () => void;
  const fired = new Promise<void>((r) => (resolve = r));
  const handle = clock.setTimeout(() => {
    firedAt.push(clock.monotonic());
    onFire?.();
    resolve();
  }, ms);
  return { handle, setAt, setDone: clock.monotonic(), firedAt, fired };
}

/** Runs `code` (an ES module) in a child node; resolves its exit code and output. */
async function runChild(code: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [exitCode] = (await once(child, 'close')) as [number | null];
  return { code: exitCode, out, err };
}

/** The suite every adapter passes; `fresh()` yields the adapter to test. */
function contract(name: string, fresh: () => ClockFixture) {
  describe(`Clock contract: ${name}`, { timeout: 30_000 }, () => {
    it('a timer fires once, not inside setTimeout, and not before its delay of monotonic time', async () => {
      const { clock, elapse } = fresh();
      const t = timer(clock, 5);
      assert.deepEqual(t.firedAt, [], 'not synchronously');
      await elapse(5, t.fired);
      assert.equal(t.firedAt.length, 1);
      assert.ok(t.firedAt[0]! - t.setAt >= 5, `fired ${t.firedAt[0]! - t.setAt} ms after it was set, asked 5`);
      const later = timer(clock, 5);
      await elapse(5, later.fired);
      assert.equal(t.firedAt.length, 1, 'once');
    });

    it('timers fire in order of due time, not the order they were set, each after its own delay', async () => {
      const { clock, elapse } = fresh();
      // Delays 2..48 ms in a scrambled order. About one Node timeout in a hundred ends early on
      // performance.now(), and timeouts set in one synchronous stretch count from its start:
      // 24 of them catch an adapter that trusts Node's order and timing.
      const delays = Array.from({ length: 24 }, (_, i) => (((i * 7) % 24) + 1) * 2);
      const fired: { d: number; t: ReturnType<typeof timer> }[] = [];
      const timers = delays.map((d) => {
        const t = timer(clock, d, () => fired.push({ d, t }));
        return { d, t };
      });
      await elapse(48, Promise.all(timers.map((x) => x.t.fired)));
      assert.equal(fired.length, 24);
      // The due times follow the delays unless setting the 24 took longer than 2 ms (a loaded
      // machine), so the order asked is the due times': a timer that fired before another was
      // due no later, and each was due between setAt + d and setDone + d.
      const seq = fired.map((f) => f.d).join(', ');
      for (let i = 0; i < fired.length; i++) {
        for (let j = i + 1; j < fired.length; j++) {
          const [a, b] = [fired[i]!, fired[j]!];
          assert.ok(a.t.setAt + a.d <= b.t.setDone + b.d, `the ${a.d} ms timer fired before the ${b.d} ms one, which was due earlier (fired: ${seq})`);
        }
      }
      for (const { d, t } of timers) assert.ok(t.firedAt[0]! - t.setAt >= d, `the ${d} ms timer fired after ${t.firedAt[0]! - t.setAt} ms`);
    });

    it('a delay beyond Node\'s longest (2^31 - 1 ms) waits instead of firing at once', async () => {
      const { clock, elapse } = fresh();
      const long = timer(clock, 2 ** 31);
      const marker = timer(clock, 5);
      await elapse(5, marker.fired);
      assert.equal(long.firedAt.length, 0);
      clock.clearTimeout(long.handle);
    });

    it('clearTimeout cancels a pending timer, also from inside an earlier one; clearing a fired or cleared timer does nothing', async () => {
      const { clock, elapse } = fresh();
      const cleared = timer(clock, 2);
      clock.clearTimeout(cleared.handle);
      let clearedFromInside: ReturnType<typeof timer> | null = null;
      const first = timer(clock, 3, () => clock.clearTimeout(clearedFromInside!.handle));
      clearedFromInside = timer(clock, 6);
      const marker = timer(clock, 9);
      await elapse(9, marker.fired);
      assert.deepEqual([cleared.firedAt.length, first.firedAt.length, clearedFromInside.firedAt.length], [0, 1, 0]);
      clock.clearTimeout(cleared.handle);
      clock.clearTimeout(first.handle);
      const after = timer(clock, 2);
      await elapse(2, after.fired);
      assert.equal(first.firedAt.length, 1);
    });

    it("clearTimeout ignores a handle another clock made, and the clock's own timers still fire", async () => {
      const { clock, elapse } = fresh();
      const other = new ManualClock();
      const foreign = other.setTimeout(() => assert.fail('the other clock never advances'), 1);
      const own = timer(clock, 2);
      clock.clearTimeout(foreign);
      await elapse(2, own.fired);
      assert.equal(own.firedAt.length, 1);
    });

    it('a timer set from inside a timer fires, after its own delay from then; a 0 ms one after the callback that set it', async () => {
      const { clock, elapse } = fresh();
      const events: string[] = [];
      const made: { inner?: ReturnType<typeof timer>; zero?: ReturnType<typeof timer> } = {};
      const outer = timer(clock, 2, () => {
        made.inner = timer(clock, 3, () => events.push('inner'));
        made.zero = timer(clock, 0, () => events.push('zero'));
        events.push('outer done');
      });
      await elapse(2, outer.fired);
      const { inner, zero } = made;
      assert.ok(inner && zero);
      await elapse(3, Promise.all([inner.fired, zero.fired]));
      assert.deepEqual(events, ['outer done', 'zero', 'inner']);
      assert.ok(inner.firedAt[0]! - inner.setAt >= 3);
      assert.ok(inner.setAt >= outer.firedAt[0]!, 'set at the outer timer\'s time or later');
    });

    it('a negative or NaN delay counts as 0: the timer fires once, after setTimeout returned', async () => {
      const { clock, elapse } = fresh();
      const neg = timer(clock, -50);
      const nan = timer(clock, Number.NaN);
      assert.deepEqual([neg.firedAt.length, nan.firedAt.length], [0, 0]);
      await elapse(0, Promise.all([neg.fired, nan.fired]));
      const marker = timer(clock, 3);
      await elapse(3, marker.fired);
      assert.deepEqual([neg.firedAt.length, nan.firedAt.length], [1, 1]);
    });

    it('monotonic time never goes back: across reads, timers and the timers they set', async () => {
      const { clock, elapse } = fresh();
      const reads: number[] = [];
      const read = (n: number): void => {
        for (let i = 0; i < n; i++) reads.push(clock.monotonic());
      };
      read(1000);
      let chain = 0;
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      const step = (): void => {
        read(100);
        if (++chain < 5) clock.setTimeout(step, 1);
        else done();
      };
      clock.setTimeout(step, 1);
      for (let i = 0; i < 5; i++) await elapse(1, Promise.resolve());
      await elapse(0, finished);
      read(100);
      assert.equal(reads.length, 1600);
      for (let i = 1; i < reads.length; i++) assert.ok(reads[i]! >= reads[i - 1]!, `read ${i}: ${reads[i]} after ${reads[i - 1]}`);
      assert.ok(reads.at(-1)! - reads[0]! >= 5, 'five 1 ms timers in a row: at least 5 ms passed');
    });

    it('now() is wall time: ms since the epoch, a finite number in this century', () => {
      const { clock } = fresh();
      const n = clock.now();
      assert.ok(Number.isFinite(n));
      assert.ok(n > Date.UTC(2020, 0, 1) && n < Date.UTC(2100, 0, 1), `now() = ${n}`);
    });

    it('a pending timer does not keep the process alive', async () => {
      const { child } = fresh();
      const r = await runChild(
        [
          `const m = await import(${JSON.stringify(child.module)});`,
          `const clock = ${child.make};`,
          `clock.setTimeout(() => console.log('fired'), 60_000);`,
          `process.on('exit', () => console.log('exit'));`,
          `console.log('armed');`,
        ].join('\n'),
      );
      assert.deepEqual([r.code, r.out, r.err], [0, 'armed\nexit\n', ''], 'the child ends with its timer pending');
    });
  });
}

const built = (file: string): string => new URL(`../src/${file}`, import.meta.url).href;

contract('systemClock', () => ({
  clock: systemClock,
  elapse: async (_ms, until) => {
    // The clock's timers are unref'd: something must hold the test process open meanwhile.
    const hold = setInterval(() => {}, 60_000);
    try {
      await until;
    } finally {
      clearInterval(hold);
    }
  },
  child: { module: built('clock.js'), make: 'm.systemClock' },
}));

contract('ManualClock', () => {
  const clock = new ManualClock();
  return {
    clock,
    elapse: async (ms, until) => {
      clock.advance(ms);
      await until;
    },
    child: { module: built('manual-clock.js'), make: 'new m.ManualClock()' },
  };
});

describe('systemClock', () => {
  it('now() is Date.now()', () => {
    const before = Date.now();
    const n = systemClock.now();
    const after = Date.now();
    assert.ok(before <= n && n <= after, `${before} <= ${n} <= ${after}`);
  });
});

describe('ManualClock', () => {
  it('starts at the wall time given (default Date.now()) and monotonic 0', () => {
    assert.equal(new ManualClock(1_700_000_000_000).now(), 1_700_000_000_000);
    const before = Date.now();
    const c = new ManualClock();
    assert.ok(before <= c.now() && c.now() <= Date.now());
    assert.equal(c.monotonic(), 0);
  });

  it('advance() moves wall and monotonic time together, and runs each timer at its due time on both', () => {
    const c = new ManualClock(1_000_000);
    const seen: [number, number][] = [];
    c.setTimeout(() => seen.push([c.monotonic(), c.now()]), 30);
    c.setTimeout(() => seen.push([c.monotonic(), c.now()]), 10);
    c.advance(9);
    assert.deepEqual(seen, [], 'nothing before its due time');
    c.advance(41);
    assert.deepEqual(seen, [[10, 1_000_010], [30, 1_000_030]]);
    assert.deepEqual([c.monotonic(), c.now()], [50, 1_000_050]);
  });

  it('stepWall() moves only wall time: monotonic time and timers stay put', () => {
    const c = new ManualClock(10_000_000);
    let fired = 0;
    c.setTimeout(() => fired++, 100);
    c.stepWall(3_600_000);
    assert.deepEqual([c.now(), c.monotonic(), fired], [13_600_000, 0, 0]);
    c.stepWall(-7_200_000);
    assert.deepEqual([c.now(), c.monotonic(), fired], [6_400_000, 0, 0]);
    c.advance(100);
    assert.deepEqual([c.now(), c.monotonic(), fired], [6_400_100, 100, 1]);
  });

  it('timers due at the same time fire in the order they were set', () => {
    const c = new ManualClock();
    const order: number[] = [];
    for (let i = 0; i < 5; i++) c.setTimeout(() => order.push(i), 7);
    c.advance(7);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  it('refuses to move monotonic time back', () => {
    const c = new ManualClock();
    c.advance(10);
    for (const ms of [-1, Number.NaN]) {
      assert.throws(() => c.advance(ms), (e: unknown) => isJanusError(e) && e.code === ErrorCode.ArgInvalid);
    }
    assert.equal(c.monotonic(), 10);
  });
});
