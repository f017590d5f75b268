/**
 * The node back end's record path (crypto/gcm-records.ts, PROTOCOL.md 7.5): the same bytes as
 * node:crypto's AES-256-GCM for every length, record number and order of use, tampering
 * caught, and the committed WebAssembly built from the committed WAT source.
 */
import { strict as assert } from 'node:assert';
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, isJanusError, MAX_RECORD_NUMBER, RecordOpener, RecordSealer, recordNonce, setRecordCount, toHex } from '../src/index.js';
import { GcmRecords, WASM_RECORD_MAX } from '../src/crypto/gcm-records.js';
import { nonceRecords } from '../src/record.js';
import { GCM_RECORDS_WASM } from '../src/crypto/gcm-records-wasm.js';
import { nodeCrypto } from '../src/node.js';

/** node:crypto's AES-256-GCM with empty AAD: ciphertext || tag. */
function referenceSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function referenceOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}

function records(key: Uint8Array, iv: Uint8Array): GcmRecords {
  return new GcmRecords(createSecretKey(key), iv, nonceRecords(nodeCrypto.aeadKey(key), iv));
}

const failsToOpen = (err: unknown) => isJanusError(err, ErrorCode.RecordOpen);
/** Lengths at every boundary of the path: blocks, the keystream made ahead (112), the WebAssembly limit. */
const EDGE_LENGTHS = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 111, 112, 113, 127, 128, 129, 1008, 1023, WASM_RECORD_MAX, WASM_RECORD_MAX + 1, 4096];

describe('GcmRecords', () => {
  it('matches the GCM specification test cases 13 and 14 (AES-256, zero key and nonce)', () => {
    const r = records(new Uint8Array(32), new Uint8Array(12));
    // Record 0 has nonce iv XOR 0 = 0^96.
    assert.equal(toHex(r.seal(0, new Uint8Array(0))), '530f8afbc74536b9a963b4f1c4cb738b');
    const r2 = records(new Uint8Array(32), new Uint8Array(12));
    assert.equal(toHex(r2.seal(0, new Uint8Array(16))), 'cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919');
  });

  it('seals and opens like node:crypto for random keys, IVs, record numbers and lengths', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: MAX_RECORD_NUMBER }), fc.constant(MAX_RECORD_NUMBER)),
        fc.oneof(fc.constantFrom(...EDGE_LENGTHS), fc.integer({ min: 0, max: 1200 })),
        (key, iv, n, len) => {
          const plaintext = randomBytes(len);
          const expected = referenceSeal(key, recordNonce(iv, n), plaintext);
          const r = records(key, iv);
          const sealed = r.seal(n, plaintext);
          assert.equal(toHex(sealed), toHex(expected));
          assert.equal(toHex(records(key, iv).open(n, expected)), toHex(plaintext));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('keeps matching over a long run of records of mixed sizes, used out of order too', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const r = records(key, iv);
    const opener = records(key, iv);
    // In order across many keystream batches, then jumps back and forward (each refills).
    const order = [...Array.from({ length: 60 }, (_, i) => i), 3, 59, 8, 7, 200, 16, 15, 17, 1000, 999, 0];
    for (const [i, n] of order.entries()) {
      const len = EDGE_LENGTHS[i % EDGE_LENGTHS.length]!;
      const plaintext = randomBytes(len);
      const sealed = r.seal(n, plaintext);
      assert.equal(toHex(sealed), toHex(referenceSeal(key, recordNonce(iv, n), plaintext)), `record ${n}, ${len} bytes`);
      assert.equal(toHex(opener.open(n, sealed)), toHex(plaintext));
    }
  });

  it('refuses a record with any one bit flipped, or under another number, or shorter than its tag', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    for (const len of [0, 5, 16, 80, 112, 300, WASM_RECORD_MAX]) {
      const sealed = referenceSeal(key, recordNonce(iv, 9), randomBytes(len));
      const r = records(key, iv);
      for (let bit = 0; bit < sealed.length * 8; bit += len > 100 ? 37 : 1) {
        const bad = Buffer.from(sealed);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(() => r.open(9, bad), failsToOpen, `${len} bytes, bit ${bit}`);
      }
      assert.throws(() => r.open(10, sealed), failsToOpen);
      assert.throws(() => r.open(8, sealed), failsToOpen);
      assert.equal(toHex(r.open(9, sealed)), toHex(referenceOpen(key, recordNonce(iv, 9), sealed)));
    }
    assert.throws(() => records(key, iv).open(0, new Uint8Array(15)), failsToOpen);
  });

  it('is what RecordSealer and RecordOpener of the node back end use, up to the last record number', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const sealer = new RecordSealer(nodeCrypto.aeadKey(key), iv);
    const opener = new RecordOpener(nodeCrypto.aeadKey(key), iv);
    assert.ok((sealer as unknown as { records: unknown }).records instanceof GcmRecords);
    setRecordCount(sealer, MAX_RECORD_NUMBER - 9);
    setRecordCount(opener, MAX_RECORD_NUMBER - 9);
    for (let n = MAX_RECORD_NUMBER - 9; n <= MAX_RECORD_NUMBER; n++) {
      const plaintext = randomBytes(n % 3 === 0 ? 200 : 40);
      const sealed = sealer.seal(plaintext);
      assert.equal(toHex(sealed), toHex(referenceSeal(key, recordNonce(iv, n), plaintext)));
      assert.equal(toHex(opener.open(sealed)), toHex(plaintext));
    }
    assert.throws(() => sealer.seal(new Uint8Array(1)), (err: unknown) => isJanusError(err, ErrorCode.RecordLimit));
  });

  it('setRecordCount takes only record numbers (integers 0..2^32)', () => {
    const sealer = new RecordSealer(nodeCrypto.aeadKey(randomBytes(32)), randomBytes(12));
    for (const bad of [-1, 2.5, MAX_RECORD_NUMBER + 2, Number.NaN]) assert.throws(() => setRecordCount(sealer, bad), RangeError);
    setRecordCount(sealer, MAX_RECORD_NUMBER + 1);
    assert.throws(() => sealer.seal(new Uint8Array(1)), (err: unknown) => isJanusError(err, ErrorCode.RecordLimit));
  });

  it('refuses an IV that is not 12 bytes', () => {
    assert.throws(() => records(randomBytes(32), new Uint8Array(11)), (err: unknown) => isJanusError(err, ErrorCode.KeyInvalid));
  });
});

describe('gcm-records-wasm.ts', () => {
  it('is what scripts/gcm-records-wasm.mjs builds from gcm-records.wat (npm run generate -w @janus/protocol)', async () => {
    const script = new URL('../../scripts/gcm-records-wasm.mjs', import.meta.url).href;
    const { gcmRecordsWasmModule } = (await import(script)) as { gcmRecordsWasmModule(wat: string): Promise<string> };
    const wat = readFileSync(new URL('../../src/crypto/gcm-records.wat', import.meta.url), 'utf8');
    const committed = readFileSync(new URL('../../src/crypto/gcm-records-wasm.ts', import.meta.url), 'utf8');
    assert.equal(committed, await gcmRecordsWasmModule(wat));
    assert.ok(committed.includes(GCM_RECORDS_WASM));
  });
});
