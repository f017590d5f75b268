/**
 * The AEAD record layer, PROTOCOL.md 7.5, with both crypto back ends: sessions round-trip;
 * tampering, replay, drops and reordering fail to open; the counter stops at 2^32 - 1.
 */
import { strict as assert } from 'node:assert';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ErrorCode,
  isJanusError,
  MAX_RECORD_NUMBER,
  RECORD_TAG_BYTES,
  RecordOpener,
  RecordSealer,
  recordNonce,
  setRecordCount,
  toHex,
  utf8,
  webCrypto,
  type CryptoBackend,
} from '../src/index.js';
import { nodeCrypto } from '../src/node.js';

const failsToOpen = (err: unknown) => isJanusError(err, ErrorCode.RecordOpen);
const overLimit = (err: unknown) => isJanusError(err, ErrorCode.RecordLimit);

/** `iv XOR (0x00000000 || u64be(n))`, computed independently of recordNonce. */
function referenceNonce(iv: Uint8Array, n: number): string {
  const pad = new Uint8Array(12);
  new DataView(pad.buffer).setBigUint64(4, BigInt(n), false);
  return toHex(iv.map((b, i) => b ^ pad[i]!));
}

describe('recordNonce', () => {
  it('is d_iv XOR (0x00000000 || u64be(n)) for every n in [0, 2^32 - 1]', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: MAX_RECORD_NUMBER }), (iv, n) => {
        assert.equal(toHex(recordNonce(iv, n)), referenceNonce(iv, n));
      }),
    );
    const iv = Uint8Array.from({ length: 12 }, (_, i) => i);
    assert.equal(toHex(recordNonce(iv, 0)), toHex(iv), 'record 0 uses the IV itself');
    assert.equal(toHex(recordNonce(iv, MAX_RECORD_NUMBER)), '0001020304050607f7f6f5f4');
  });
});

for (const crypto of [nodeCrypto, webCrypto] as CryptoBackend[]) {
  describe(`records with the ${crypto.name} back end`, () => {
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(12);
    const pair = async () => {
      const aead = await crypto.aeadKey(key);
      return { sealer: new RecordSealer(aead, iv), opener: new RecordOpener(aead, iv) };
    };
    const packets = Array.from({ length: 40 }, (_, i) => utf8(`packet ${i} `.repeat(i)));

    it('a session of N records round-trips, each record 16 bytes longer than its Packet', async () => {
      const { sealer, opener } = await pair();
      const records: Uint8Array[] = [];
      for (const p of packets) records.push(await sealer.seal(p));
      assert.equal(sealer.count, packets.length);
      for (let i = 0; i < records.length; i++) {
        assert.equal(records[i]!.length, packets[i]!.length + RECORD_TAG_BYTES);
        assert.equal(toHex(await opener.open(records[i]!)), toHex(packets[i]!));
      }
      assert.equal(opener.count, packets.length);
    });

    it('record n is AES-256-GCM under the nonce of n with an empty AAD (checked with node:crypto)', async () => {
      const { sealer } = await pair();
      for (let n = 0; n < 3; n++) {
        const record = await sealer.seal(packets[5]!);
        const c = createCipheriv('aes-256-gcm', key, recordNonce(iv, n));
        const expected = Buffer.concat([c.update(packets[5]!), c.final(), c.getAuthTag()]);
        assert.equal(toHex(record), expected.toString('hex'));
      }
    });

    it('equal Packets give different records (the counter moves the nonce)', async () => {
      const { sealer } = await pair();
      const a = await sealer.seal(packets[3]!);
      const b = await sealer.seal(packets[3]!);
      assert.notEqual(toHex(a), toHex(b));
    });

    it('flipping any single byte of a record makes open fail', async () => {
      const aead = await crypto.aeadKey(key);
      const record = await new RecordSealer(aead, iv).seal(utf8('hello'));
      assert.equal(record.length, 5 + RECORD_TAG_BYTES);
      for (let i = 0; i < record.length; i++) {
        for (const xor of [0x01, 0x80, 0xff]) {
          const bad = Uint8Array.from(record);
          bad[i]! ^= xor;
          await assert.rejects(async () => new RecordOpener(aead, iv).open(bad), failsToOpen, `byte ${i} xor ${xor}`);
        }
      }
      // The untouched record still opens: only the flip is at fault.
      assert.equal(toHex(await new RecordOpener(aead, iv).open(record)), toHex(utf8('hello')));
    });

    it('a truncated, extended or empty record fails to open', async () => {
      const aead = await crypto.aeadKey(key);
      const record = await new RecordSealer(aead, iv).seal(utf8('hello'));
      for (const bad of [record.subarray(0, record.length - 1), record.subarray(1), new Uint8Array(0), record.subarray(0, 15), Uint8Array.from([...record, 0])]) {
        await assert.rejects(async () => new RecordOpener(aead, iv).open(bad), failsToOpen, `length ${bad.length}`);
      }
    });

    it('an empty Packet seals to a bare tag and opens', async () => {
      const { sealer, opener } = await pair();
      const record = await sealer.seal(new Uint8Array(0));
      assert.equal(record.length, RECORD_TAG_BYTES);
      assert.equal((await opener.open(record)).length, 0);
    });

    it('a replayed record fails to open', async () => {
      const { sealer, opener } = await pair();
      const r0 = await sealer.seal(packets[1]!);
      await opener.open(r0);
      await assert.rejects(async () => opener.open(r0), failsToOpen);
    });

    it('a dropped record makes the next one fail to open', async () => {
      const { sealer, opener } = await pair();
      await sealer.seal(packets[1]!); // r0: dropped
      const r1 = await sealer.seal(packets[2]!);
      await assert.rejects(async () => opener.open(r1), failsToOpen);
    });

    it('two reordered records fail to open', async () => {
      const { sealer, opener } = await pair();
      const r0 = await sealer.seal(packets[1]!);
      const r1 = await sealer.seal(packets[2]!);
      await assert.rejects(async () => opener.open(r1), failsToOpen);
      const fresh = (await pair()).opener;
      await fresh.open(r0);
      await fresh.open(r1); // in order they open
    });

    it('a record of the other direction (other key and IV) fails to open', async () => {
      const { sealer } = await pair();
      const other = new RecordOpener(await crypto.aeadKey(crypto.randomBytes(32)), iv);
      const otherIv = new RecordOpener(await crypto.aeadKey(key), crypto.randomBytes(12));
      const r0 = await sealer.seal(packets[1]!);
      await assert.rejects(async () => other.open(r0), failsToOpen);
      await assert.rejects(async () => otherIv.open(r0), failsToOpen);
    });

    it('the sealer seals record 2^32 - 1 and then throws JANUS_ERR_RECORD_LIMIT', async () => {
      const { sealer, opener } = await pair();
      setRecordCount(sealer, MAX_RECORD_NUMBER);
      setRecordCount(opener, MAX_RECORD_NUMBER);
      const last = await sealer.seal(packets[4]!);
      assert.equal(toHex(await opener.open(last)), toHex(packets[4]!), 'the last record opens at number 2^32 - 1');
      await assert.rejects(async () => sealer.seal(packets[4]!), overLimit);
      await assert.rejects(async () => sealer.seal(packets[4]!), overLimit, 'and keeps refusing');
    });

    it('the opener opens record 2^32 - 1 and then throws JANUS_ERR_RECORD_LIMIT', async () => {
      const { sealer, opener } = await pair();
      setRecordCount(sealer, MAX_RECORD_NUMBER);
      setRecordCount(opener, MAX_RECORD_NUMBER);
      await opener.open(await sealer.seal(packets[4]!));
      // Whatever arrives next, the counter is exhausted before any decryption.
      await assert.rejects(async () => opener.open(new Uint8Array(32)), overLimit);
    });

    it('refuses an IV that is not 12 bytes', async () => {
      const aead = await crypto.aeadKey(key);
      assert.throws(() => new RecordSealer(aead, new Uint8Array(11)), (e: unknown) => isJanusError(e, ErrorCode.KeyInvalid));
      assert.throws(() => new RecordOpener(aead, new Uint8Array(16)), (e: unknown) => isJanusError(e, ErrorCode.KeyInvalid));
    });
  });
}

describe('records across back ends', () => {
  it('node:crypto seals what WebCrypto opens and back', async () => {
    const key = nodeCrypto.randomBytes(32);
    const iv = nodeCrypto.randomBytes(12);
    const nodeSealer = new RecordSealer(nodeCrypto.aeadKey(key), iv);
    const webOpener = new RecordOpener(await webCrypto.aeadKey(key), iv);
    const webSealer = new RecordSealer(await webCrypto.aeadKey(key), iv);
    const nodeOpener = new RecordOpener(nodeCrypto.aeadKey(key), iv);
    for (let i = 0; i < 5; i++) {
      const p = utf8(`message ${i}`);
      assert.equal(toHex(await webOpener.open(nodeSealer.seal(p))), toHex(p));
      assert.equal(toHex(nodeOpener.open(await webSealer.seal(p))), toHex(p));
    }
  });
});
