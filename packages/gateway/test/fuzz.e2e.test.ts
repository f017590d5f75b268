/**
 * Fuzz targets of the gateway (docs/reliability.md "Fuzzing"): its zlib path (the ZlibPool
 * every compressed Packet goes through, PROTOCOL.md 8) and a live gateway fed hostile
 * frames before and after login. A rejection must be typed: on the wire that means the
 * connection is closed as PROTOCOL.md 2 says, never the ServerLogout Server (code 0) that
 * an untyped throw inside a connection ends in (Connection.fail). CI-sized here;
 * `FUZZ_RUNS=N` (`npm run fuzz`) for the long run.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { ZlibPool } from '../src/connection/zlib-pool.js';

/** Runs of one target: FUZZ_RUNS when set (the long run), else the CI-sized `ciRuns`. */
function fuzzRuns(ciRuns: number): number {
  const n = Number(process.env.FUZZ_RUNS ?? ciRuns);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
  return n;
}

describe('ZlibPool', () => {
  it('a zlib call that throws at once (limit over buffer.kMaxLength) rejects typed and frees its slot', { timeout: 5000 }, async () => {
    const pool = new ZlibPool(1);
    const data = deflateSync(Buffer.from('hello'));
    // node:zlib throws ERR_OUT_OF_RANGE synchronously for a maxOutputLength over 4 GiB,
    // which the config's maxInflateBytes (min 1, no max) allows.
    await assert.rejects(pool.inflate(data, 2 ** 40), (err: unknown) => isJanusError(err, ErrorCode.InflateLimit));
    await assert.rejects(pool.deflate(data, 42), (err: unknown) => isJanusError(err, ErrorCode.InflateLimit));
    // With its only slot leaked, this job would wait forever.
    assert.equal(Buffer.from(await pool.inflate(data, 100)).toString(), 'hello');
  });
});

describe('fuzz: the gateway zlib path', () => {
  it('ZlibPool.inflate on hostile, mutated and bomb-like data: the reference output within the limit, else JANUS_ERR_INFLATE; never a stuck slot', { timeout: 120_000 }, async () => {
    // One slot: a job that never ends its slot makes the next run hang (the test times out).
    const pool = new ZlibPool(1);
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 9 })).map(([b, level]) => deflateSync(b, { level })),
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, at, x]) => {
        const z = Uint8Array.from(deflateSync(b));
        z[at % z.length]! ^= x;
        return z;
      }),
      fc.integer({ min: 0, max: 70_000 }).map((n) => deflateSync(Buffer.alloc(n, 0x61), { level: 9 })),
    );
    const limit = fc.oneof(fc.integer({ min: 1, max: 70_000 }), fc.constantFrom(1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 40));
    await fc.assert(
      fc.asyncProperty(data, limit, async (z, max) => {
        let want: Buffer | null = null;
        try {
          want = inflateSync(z, { maxOutputLength: 1 << 20 });
        } catch {
          want = null;
        }
        const valid = want !== null && want.length <= max && max <= 2 ** 32;
        try {
          const got = await pool.inflate(z, max);
          assert.ok(valid, `inflated ${got.length} bytes where the reference refuses (limit ${max})`);
          assert.equal(Buffer.from(got).toString('hex'), want!.toString('hex'));
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.ok(isJanusError(err, ErrorCode.InflateLimit), `untyped: ${String(err)}`);
          assert.ok(!valid, `refused data the reference inflates to ${want?.length} bytes (limit ${max})`);
        }
      }),
      { numRuns: fuzzRuns(1500) },
    );
  });
});
