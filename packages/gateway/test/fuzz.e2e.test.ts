/**
 * Fuzz targets of the gateway (docs/reliability.md "Fuzzing"): its zlib path (the ZlibPool
 * every compressed Packet goes through, PROTOCOL.md 8) and a live gateway fed hostile
 * frames before and after login. A rejection must be typed: on the wire that means the
 * connection is closed as PROTOCOL.md 2 says, never the ServerLogout Server (code 0) that
 * an untyped throw inside a connection ends in (Connection.fail), and the gateway keeps
 * serving a witness session. CI-sized here;
 * `FUZZ_RUNS=N` (`npm run fuzz`) for the long run.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { createClientHello, decodeMessage, decodePacket, encodeFrame, ErrorCode, isJanusError, SCServerLogout_Code, SCServerLogoutSchema, type Packet } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { ZlibPool } from '../src/connection/zlib-pool.js';
import { RawClient } from './support/raw-client.js';
import { loggedIn, str, text } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * Runs of one target: the CI-sized `ciRuns`, or with FUZZ_RUNS set (the long run) FUZZ_RUNS,
 * divided by 100 for a target whose every run is a connection (`perConnection`).
 */
function fuzzRuns(ciRuns: number, perConnection = false): number {
  if (!process.env.FUZZ_RUNS) return ciRuns;
  const n = Number(process.env.FUZZ_RUNS);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
  return perConnection ? Math.max(ciRuns, Math.floor(n / 100)) : n;
}

/** Test timeout: generous for the long run, which scales the live-gateway targets too. */
const LONG_TIMEOUT_MS = process.env.FUZZ_RUNS ? 3_600_000 : 300_000;

describe('ZlibPool', () => {
  it('a zlib call that throws at once rejects and frees its slot: an inflate typed JANUS_ERR_INFLATE, a deflate with the error node:zlib raised', { timeout: 5000 }, async () => {
    const pool = new ZlibPool(1);
    const data = deflateSync(Buffer.from('hello'));
    // node:zlib throws ERR_OUT_OF_RANGE synchronously for a maxOutputLength over 4 GiB,
    // which the config's maxInflateBytes (min 1) allowed before it got Node's largest Buffer as its maximum.
    await assert.rejects(pool.inflate(data, 2 ** 40), (err: unknown) => isJanusError(err, ErrorCode.InflateLimit));
    await assert.rejects(pool.deflate(data, 42), (err: unknown) => (err as { code?: unknown }).code === 'ERR_OUT_OF_RANGE' && !isJanusError(err));
    // With its only slot leaked, this job would wait forever.
    assert.equal(Buffer.from(await pool.inflate(data, 100)).toString(), 'hello');
  });
});

describe('fuzz: the gateway zlib path', () => {
  it('ZlibPool.inflate on hostile, mutated and bomb-like data: the reference output within the limit, else JANUS_ERR_INFLATE; never a stuck slot', { timeout: LONG_TIMEOUT_MS }, async () => {
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

/** The ServerLogout code in `p`, or null when it is not a ServerLogout. */
function logoutCode(p: Packet): number | null {
  return p.mod === 1 && p.seq === 4 ? decodeMessage(SCServerLogoutSchema, p.data).code : null;
}

describe('fuzz: a live gateway fed hostile input', () => {
  let stack: Stack;
  let uid = 1000;

  before(async () => {
    stack = await startStack({
      config: {
        limits: { maxFrameBytes: 4096, maxInflateBytes: 65536, handshakesPerSecond: 100000, handshakesPerSecondPerAddress: 100000 },
        // Short, so an input that leaves a frame incomplete ends quickly (end, nothing sent).
        timeouts: { handshakeMs: 300, shutdownMs: 2000, tunnelConnectMs: 1000 },
      },
    });
  });

  after(async () => {
    await stack.stop();
  });

  /**
   * A fresh session still logs in and gets its Echo answered. (Fresh, not one kept from the
   * start: a long run outlasts the idle timeout of a session that sends nothing.)
   */
  async function witnessEchoes(): Promise<void> {
    const witness = await loggedIn(stack, 'tcp', 1);
    const req = witness.send({ mod: 3, seq: 1, data: text('still here') });
    const reply = await witness.nextPacket();
    assert.equal(reply?.index, req.index);
    assert.equal(str(reply?.data), 'still here');
    witness.close();
    await witness.ending;
  }

  for (const kind of ['tcp', 'ws'] as const) {
    it(`before the handshake (${kind}): hostile first frames are answered only with SCHandshake or a 7.2 ServerLogout, then closed`, { timeout: LONG_TIMEOUT_MS }, async () => {
      const valid = (
        await createClientHello({ crypto: nodeCrypto, clientKey: stack.keys.clientKey, certVersion: 1, serverId: 0n, serverCertVersion: 0, timestamp: BigInt(Math.floor(Date.now() / 1000)) })
      ).body;
      // TCP: raw bytes (any length prefix) or whole frames. WebSocket: one binary message per body.
      const frame = (b: Uint8Array): Uint8Array => (kind === 'tcp' ? encodeFrame(b, 1 << 24) : b);
      const input = fc.oneof(
        fc.uint8Array({ minLength: kind === 'tcp' ? 1 : 0, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }).map(frame),
        fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
          const b = Uint8Array.from(valid);
          b[at % b.length]! ^= x;
          return frame(b);
        }),
      );
      const allowed = new Set<number>([SCServerLogout_Code.BadVersion, SCServerLogout_Code.Unauthorized, SCServerLogout_Code.ClockSkew]);
      let answered = 0;
      await fc.assert(
        fc.asyncProperty(input, async (bytes) => {
          const c = await RawClient.connect(kind, kind === 'tcp' ? stack.gw.tcpPort : stack.gw.wsPort);
          c.sendRaw(bytes);
          for (;;) {
            const b = await c.nextBody(5000);
            if (b === null) break;
            answered++;
            // Before keys exist everything the gateway sends is a plaintext Packet.
            const p = decodePacket(b);
            const code = logoutCode(p);
            if (code !== null) assert.ok(allowed.has(code), `ServerLogout ${SCServerLogout_Code[code]} before the handshake: an untyped failure?`);
            else {
              assert.deepEqual([p.mod, p.seq], [1, 1], 'only SCHandshake or ServerLogout');
              c.close(); // the handshake went through: nothing more to learn from this input
              break;
            }
          }
          const ending = await c.ending;
          // WebSocket: a malformed body is 1002, a ServerLogout of 7.2 is 1008, the handshake
          // timeout 1008, our own close after SCHandshake 1005/1006 (PROTOCOL.md 2).
          if (kind === 'ws') assert.ok([1002, 1005, 1006, 1008].includes(ending.wsCode!), `WebSocket close ${ending.wsCode}`);
        }),
        // The valid frame first: the answering path is always run, whatever the seed draws.
        { numRuns: fuzzRuns(60, true), examples: [[frame(valid)]] },
      );
      assert.ok(answered > 0, 'no input got an answer: the target never reached the checks of 7.2');
      await witnessEchoes();
    });
  }

  it('after login: hostile Packets in valid records are answered or close the connection, never with ServerLogout Server; a later request is still answered', { timeout: LONG_TIMEOUT_MS }, async () => {
    const int32 = fc.oneof(fc.integer({ min: -2, max: 12 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom('{}', '{"name":"x"}', '{"text":"hi"}', '{"text":5}', '[]', 'null').map(text),
      fc.uint8Array({ maxLength: 64 }).map((b) => deflateSync(b)),
      fc.integer({ min: 60_000, max: 70_000 }).map((n) => deflateSync(Buffer.alloc(n), { level: 9 })),
    );
    const hostilePacket = fc.record({
      mod: fc.oneof(fc.constantFrom(1, 3, 4), int32),
      seq: fc.oneof(fc.integer({ min: 0, max: 12 }), int32),
      obj: fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
      compress: fc.boolean(),
      data,
      ver: int32,
      connId: int32,
    });
    const step = fc.oneof(
      { weight: 6, arbitrary: hostilePacket.map((f) => ({ kind: 'packet' as const, f })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => ({ kind: 'record' as const, b })) },
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0).map((d) => ({ kind: 'index' as const, d })) },
    );
    let closed = 0;
    let probed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 4 }), async (steps) => {
        const c = await loggedIn(stack, 'tcp', ++uid);
        for (const s of steps) {
          if (s.kind === 'packet') {
            const f = s.f.mod === 1 ? { ...s.f, compress: false } : s.f; // mod 1 + compress is a malformed Packet; covered by 'record'
            c.send(f);
          } else if (s.kind === 'record') c.sendBody(c.sealer!.seal(s.b));
          else c.send({ mod: 3, seq: 1, index: c.index + s.d });
        }
        const probe = c.send({ mod: 3, seq: 1, data: text('probe') });
        for (;;) {
          const p = await c.nextPacket(5000);
          if (p === null) {
            closed++;
            break;
          }
          const code = logoutCode(p);
          assert.notEqual(code, SCServerLogout_Code.Server, 'ServerLogout Server: an untyped failure in the connection');
          if (code !== null) continue; // e.g. RateLimited; the close follows
          if (p.index === probe.index) {
            probed++;
            assert.equal(str(p.data), 'probe');
            break;
          }
        }
        c.close();
        await c.ending;
      }),
      { numRuns: fuzzRuns(100, true) },
    );
    assert.ok(closed > 0 && probed > 0, `closed ${closed}, probe answered ${probed}: the target must reach both outcomes`);
    await witnessEchoes();
  });
});
