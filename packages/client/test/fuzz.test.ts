/**
 * Fuzz target of the client's inflate (src/compress.ts, PROTOCOL.md 8; docs/reliability.md
 * "Fuzzing"): on hostile, mutated and bomb-like data, the reference output within the
 * limit, else JANUS_ERR_INFLATE, nothing else. CI-sized here; `FUZZ_RUNS=N` (`npm run
 * fuzz`) for the long run.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { deflateRawSync, deflateSync, gzipSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { inflateLimited } from '../src/compress.js';

const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 1500;

describe('fuzz: client inflate', () => {
  it('inflateLimited: the reference output within maxInflateBytes, else JANUS_ERR_INFLATE (zlib only: raw deflate and gzip refused)', { timeout: process.env.FUZZ_RUNS ? 3_600_000 : 120_000 }, async () => {
    assert.ok(Number.isSafeInteger(RUNS) && RUNS > 0, `FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 9 })).map(([b, level]) => deflateSync(b, { level })),
      fc.uint8Array({ minLength: 1, maxLength: 100 }).map((b) => (b[0]! & 1 ? deflateRawSync(b) : gzipSync(b))),
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, at, x]) => {
        const z = Uint8Array.from(deflateSync(b));
        z[at % z.length]! ^= x;
        return z;
      }),
      fc.integer({ min: 0, max: 70_000 }).map((n) => deflateSync(Buffer.alloc(n, 0x61), { level: 9 })),
    );
    // The range ClientOptions.maxInflateBytes accepts (options.ts): 1 .. 2^31.
    const limit = fc.oneof(fc.integer({ min: 1, max: 70_000 }), fc.constantFrom(1, 2 ** 31));
    await fc.assert(
      fc.asyncProperty(data, limit, async (z, max) => {
        let want: Buffer | null;
        try {
          want = inflateSync(z, { maxOutputLength: 1 << 20 });
        } catch {
          want = null;
        }
        const valid = want !== null && want.length <= max;
        try {
          const got = await inflateLimited(z, max);
          assert.ok(valid, `inflated ${got.length} bytes where the reference refuses (limit ${max})`);
          assert.equal(Buffer.from(got).toString('hex'), want!.toString('hex'));
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.ok(isJanusError(err, ErrorCode.InflateLimit), `untyped: ${String(err)}`);
          assert.ok(!valid, `refused data the reference inflates to ${want?.length} bytes (limit ${max})`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
