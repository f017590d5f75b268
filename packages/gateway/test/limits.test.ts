/** Units of the connection limits (connection/limits.ts) and the zlib pool (connection/zlib-pool.ts). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { HandshakeAdmission, StrikeCounter, TokenBucket } from '../src/connection/limits.js';
import { ZlibPool } from '../src/connection/zlib-pool.js';

describe('TokenBucket', () => {
  it('starts full, refills at its rate up to its burst, and takes nothing when short', () => {
    const b = new TokenBucket(10, 3, 0);
    assert.ok(b.take(0) && b.take(0) && b.take(0));
    assert.equal(b.take(0), false);
    assert.equal(b.take(99), false, '0.99 of a token after 99 ms at 10/s');
    assert.equal(b.take(100), true);
    assert.equal(b.take(10_000, 4), false, 'never more than the burst');
    assert.equal(b.take(10_000, 3), true);
  });

  it('charge() goes into debt that later refills repay', () => {
    const b = new TokenBucket(1000, 1000, 0);
    b.charge(0, 3000);
    assert.equal(b.hasTokens(0), false);
    assert.equal(b.hasTokens(1999), false, 'still -1 token after 1.999 s');
    assert.equal(b.hasTokens(2001), true);
  });
});

describe('StrikeCounter', () => {
  it('reports the limit within one one-second window and starts over in the next', () => {
    const s = new StrikeCounter(3);
    assert.equal(s.strike(0), false);
    assert.equal(s.strike(500), false);
    assert.equal(s.strike(999), true);
    assert.equal(s.strike(1000), false, 'a new window');
    assert.equal(s.strike(1001), false);
  });
});

describe('HandshakeAdmission', () => {
  it('refuses an address past its burst while other addresses are admitted, then refills', () => {
    const h = new HandshakeAdmission({ handshakesPerSecond: 1000, handshakesPerSecondPerAddress: 2 }, 0);
    for (let i = 0; i < 4; i++) assert.equal(h.admit('10.0.0.1', 0), true, `burst ${i}`);
    assert.equal(h.admit('10.0.0.1', 0), false);
    assert.equal(h.admit('10.0.0.2', 0), true);
    assert.equal(h.refused, 1);
    assert.equal(h.admit('10.0.0.1', 500), true, 'one token back after 0.5 s at 2/s');
  });

  it('a refused address does not use up the global bucket', () => {
    const h = new HandshakeAdmission({ handshakesPerSecond: 2, handshakesPerSecondPerAddress: 1 }, 0);
    assert.ok(h.admit('a', 0) && h.admit('a', 0));
    for (let i = 0; i < 10; i++) assert.equal(h.admit('a', 0), false);
    assert.equal(h.admit('b', 0), true, 'the global burst of 4 still has room');
  });

  it('forgets idle addresses, so memory follows the addresses seen lately', () => {
    const h = new HandshakeAdmission({ handshakesPerSecond: 1e9, handshakesPerSecondPerAddress: 10 }, 0);
    for (let i = 0; i < 5000; i++) h.admit(`10.1.${i >> 8}.${i & 255}`, 0);
    assert.equal(h.trackedAddresses, 5000, 'all active within the same instant');
    // 10 s later every bucket is full again: the next new address sweeps them away.
    for (let i = 0; i < 10000; i++) h.admit(`10.2.${i >> 8}.${i & 255}`, 10_000);
    assert.equal(h.trackedAddresses, 10000, 'the 5000 idle addresses were forgotten, the 10000 active ones kept');
  });
});

describe('ZlibPool', () => {
  it('runs at most `concurrency` jobs at once and answers every one, in any completion order', async () => {
    const pool = new ZlibPool(2);
    const data = deflateSync(Buffer.alloc(200_000, 7));
    const outs = await Promise.all(Array.from({ length: 10 }, () => pool.inflate(data, 1 << 20)));
    for (const o of outs) assert.equal(o.length, 200_000);
    assert.equal(pool.jobs, 10);
    assert.equal(pool.peakWaiting, 8, '2 running, the other 8 queued');
  });

  it('stops an inflate past its limit with JANUS_ERR_INFLATE_LIMIT, and refuses garbage the same way', async () => {
    const pool = new ZlibPool(1);
    await assert.rejects(pool.inflate(deflateSync(Buffer.alloc(5000)), 4096), (e: unknown) => isJanusError(e, ErrorCode.InflateLimit));
    await assert.rejects(pool.inflate(Buffer.from('not deflate data'), 4096), (e: unknown) => isJanusError(e, ErrorCode.InflateLimit));
    const round = await pool.inflate(await pool.deflate(Buffer.from('hello'), 1), 100);
    assert.equal(Buffer.from(round).toString(), 'hello');
  });
});
