/**
 * The pooled node:crypto back end (crypto/pool.ts): the same answers as the synchronous
 * back end with the same key handles, failures as rejections, requests spread over its
 * threads, a full handshake against a node:crypto client, its workers' OS priority, and
 * close.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import {
  acceptServerHello,
  checkClientHello,
  createClientHello,
  createServerHello,
  decodeClientHello,
  toHex,
  utf8,
  type ServerHandshakeConfig,
} from '../src/index.js';
import { CryptoPool, nodeCrypto } from '../src/node.js';
import { ed25519Pem } from './support/keys.js';

describe('CryptoPool', () => {
  // No inline budget: every job goes to a worker.
  const pool = new CryptoPool({ threads: 2, inlineShare: 0, inlineBurstMs: 0 });
  after(() => pool.close());
  const pem = ed25519Pem();
  const signing = nodeCrypto.importSigningKey(pem.priv);
  const verifying = nodeCrypto.importVerifyKey(pem.pub);

  it('signs and verifies like node:crypto, with keys node:crypto imported', async () => {
    const msg = utf8('janus pool test');
    const sig = await pool.ed25519Sign(signing, msg);
    assert.equal(toHex(sig), toHex(nodeCrypto.ed25519Sign(signing, msg))); // Ed25519 is deterministic
    assert.equal(await pool.ed25519Verify(verifying, msg, sig), true);
    const bad = Uint8Array.from(sig);
    bad[0]! ^= 1;
    assert.equal(await pool.ed25519Verify(verifying, msg, bad), false);
    assert.equal(await pool.ed25519Verify(verifying, msg, sig.subarray(0, 63)), false);
  });

  it('passes a view of a larger buffer as its own bytes', async () => {
    const msg = utf8('in the middle');
    const sig = nodeCrypto.ed25519Sign(signing, msg);
    const chunk = new Uint8Array(4096);
    chunk.set(sig, 1000);
    assert.equal(await pool.ed25519Verify(verifying, msg, chunk.subarray(1000, 1064)), true);
  });

  it('generates X25519 pairs whose shared secrets agree with node:crypto', async () => {
    const a = await pool.x25519Generate();
    const b = nodeCrypto.x25519Generate();
    assert.equal(a.publicKey.length, 32);
    const ab = await pool.x25519(a.privateKey, b.publicKey);
    const ba = nodeCrypto.x25519(b.privateKey, a.publicKey);
    assert.equal(toHex(ab), toHex(ba));
  });

  it('rejects a low-order X25519 peer key and a wrong key type', async () => {
    const a = await pool.x25519Generate();
    await assert.rejects(pool.x25519(a.privateKey, new Uint8Array(32)));
    const x = nodeCrypto.x25519Generate();
    await assert.rejects(pool.ed25519Sign({ kind: 'ed25519-private', handle: x.privateKey }, utf8('m')));
  });

  it('spreads requests in flight over its threads', async () => {
    const msg = utf8('spread');
    const sig = nodeCrypto.ed25519Sign(signing, msg);
    const all = Array.from({ length: 16 }, () => pool.ed25519Verify(verifying, msg, sig));
    assert.equal(pool.inFlight, 16);
    assert.deepEqual(await Promise.all(all), Array(16).fill(true));
    assert.equal(pool.inFlight, 0);
  });

  it('runs jobs inline while its budget lasts, then on a worker', async () => {
    const msg = utf8('budget');
    const sig = nodeCrypto.ed25519Sign(signing, msg);
    // 1 ms of inline work, never refilled: the first verifies (~0.1 ms each) run inline, the rest on the worker.
    const p = new CryptoPool({ threads: 1, inlineShare: 0, inlineBurstMs: 1 });
    for (let i = 0; i < 100; i++) assert.equal(await p.ed25519Verify(verifying, msg, sig), true);
    assert.ok(p.counts.inline >= 1, `inline ${p.counts.inline}`);
    assert.ok(p.counts.offloaded >= 1, `offloaded ${p.counts.offloaded}`);
    assert.equal(p.counts.inline + p.counts.offloaded, 100);
    await p.close();
  });

  it('runs the server side of a handshake against a node:crypto client', async () => {
    const client = ed25519Pem();
    const cfg: ServerHandshakeConfig = {
      crypto: pool,
      encrypted: true,
      clientKeys: new Map([[1, nodeCrypto.importVerifyKey(client.pub)]]),
      serverKeys: new Map([[1, signing]]),
      handshakeSkew: 300,
    };
    const now = Math.floor(Date.now() / 1000);
    const hello = await createClientHello({
      crypto: nodeCrypto,
      clientKey: nodeCrypto.importSigningKey(client.priv),
      certVersion: 1,
      serverId: 0n,
      serverCertVersion: 0,
      timestamp: BigInt(now),
    });
    const hs = decodeClientHello(hello.body);
    assert.equal(await checkClientHello(cfg, hs, now), null);
    const sh = await createServerHello(cfg, { csBody: hello.body, hs, timestamp: BigInt(now) });
    const res = await acceptServerHello(nodeCrypto, hello, sh.body, new Map([[1, verifying]]));
    assert.equal(toHex(res.keys!.c2sKey), toHex(sh.keys!.c2sKey));
    assert.equal(toHex(res.keys!.s2cIv), toHex(sh.keys!.s2cIv));
  });

  it('rejects requests after close', async () => {
    const p = new CryptoPool({ threads: 1, inlineShare: 0, inlineBurstMs: 0 });
    assert.equal((await p.x25519Generate()).publicKey.length, 32);
    await p.close();
    await assert.rejects(p.x25519Generate(), /closed/);
    await p.close();
  });

  it('runs jobs on the calling thread with 0 threads, failures still as rejections', async () => {
    const inline = new CryptoPool({ threads: 0 });
    const msg = utf8('inline');
    const sig = await inline.ed25519Sign(signing, msg);
    assert.equal(await inline.ed25519Verify(verifying, msg, sig), true);
    assert.equal(inline.inFlight, 0);
    const a = await inline.x25519Generate();
    await assert.rejects(inline.x25519(a.privateKey, new Uint8Array(32)));
    await inline.close();
  });

  it('runs its worker threads at workerNice and leaves the calling thread at its own (Linux)', { skip: process.platform !== 'linux' }, async () => {
    const mainNice = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'));
    const before = threadNices();
    const p = new CryptoPool({ threads: 2, inlineShare: 0, inlineBurstMs: 0, workerNice: 17 });
    const msg = utf8('nice');
    const sig = nodeCrypto.ed25519Sign(signing, msg);
    // Two in flight at once: the second starts the pool's second thread.
    assert.deepEqual(await Promise.all([p.ed25519Verify(verifying, msg, sig), p.ed25519Verify(verifying, msg, sig)]), [true, true]);
    const after = threadNices();
    const fresh = [...after].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
    assert.equal(fresh.filter((n) => n === 17).length, 2, `new threads' nice values ${JSON.stringify(fresh)}`);
    assert.equal(niceOf(readFileSync('/proc/thread-self/stat', 'utf8')), mainNice);
    await p.close();
  });

  it('refuses a negative or fractional thread count, and a nice value outside -20..19', () => {
    assert.throws(() => new CryptoPool({ threads: -1 }), RangeError);
    assert.throws(() => new CryptoPool({ threads: 1.5 }), RangeError);
    assert.throws(() => new CryptoPool({ inlineShare: 2 }), RangeError);
    assert.throws(() => new CryptoPool({ workerNice: 20 }), RangeError);
    assert.throws(() => new CryptoPool({ workerNice: -21 }), RangeError);
    assert.throws(() => new CryptoPool({ workerNice: 1.5 }), RangeError);
  });
});

/** The nice value in a /proc/.../stat line: field 19, counted after the `(comm)` field, which may hold spaces. */
function niceOf(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19 - 3]);
}

/** This process's threads: thread id -> nice value. */
function threadNices(): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      m.set(tid, niceOf(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return m;
}
