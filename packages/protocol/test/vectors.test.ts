/**
 * Reproduces every value of the test vectors (PROTOCOL.md 3, 5-7) with every crypto back
 * end (node:crypto, WebCrypto, the node:crypto worker pool), and checks that every
 * negative vector fails the way it says.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  acceptServerHello,
  AuthToken_Status,
  base64UrlDecodeStrict,
  checkClientHello,
  clientSignatureInput,
  createClientHello,
  createServerHello,
  decodeClientHello,
  decodePacket,
  deriveSessionKeys,
  encodeFrame,
  encodePacket,
  ErrorCode,
  fromBase64,
  fromHex,
  isJanusError,
  makePacket,
  openToken,
  RecordOpener,
  RecordSealer,
  recordNonce,
  sealToken,
  serverSignatureInput,
  setRecordCount,
  toHex,
  utf8,
  type CryptoBackend,
  type Packet,
} from '../src/index.js';
import { CryptoPool, nodeCrypto } from '../src/node.js';
import { webCrypto } from '../src/crypto/web.js';
import { AuthTokenSchema } from '../src/gen/janus/v1/token_pb.js';
import { inflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests run from dist/test; the JSON stays in test/vectors.
const vectorsPath = join(here, '..', '..', 'test', 'vectors', 'v1.json');
const V = JSON.parse(readFileSync(vectorsPath, 'utf8'));
const H = V.handshake;
const K = V.keys;
const KS = V.key_schedule;

describe('vector copy', () => {
  it('matches ../shared/vectors/v1.json where that file exists', (t) => {
    const shared = join(here, '..', '..', '..', '..', '..', 'shared', 'vectors', 'v1.json');
    if (!existsSync(shared)) {
      t.diagnostic(`no ${shared}: nothing to compare`);
      return;
    }
    assert.equal(readFileSync(vectorsPath, 'utf8'), readFileSync(shared, 'utf8'), 'packages/protocol/test/vectors/v1.json differs from shared/vectors/v1.json');
  });
});

function vectorPacket(p: Record<string, unknown>): Packet {
  return makePacket({
    mod: p.mod as number,
    seq: p.seq as number,
    index: (p.index as number | undefined) ?? 0,
    obj: BigInt((p.obj as number | undefined) ?? 0),
    dataVersion: BigInt((p.data_version as number | undefined) ?? 0),
    ver: (p.ver as number | undefined) ?? 0,
    compress: (p.compress as boolean | undefined) ?? false,
    data: fromHex(p.data as string),
  });
}

// The pooled back end with two threads and no inline budget: every job runs on a worker.
const pool = new CryptoPool({ threads: 2, inlineShare: 0, inlineBurstMs: 0 });
after(() => pool.close());

for (const crypto of [nodeCrypto, webCrypto, pool] as CryptoBackend[]) {
  describe(`vectors with the ${crypto.name} back end`, () => {
    const tokenKey = fromBase64(V.token.token_key_b64);
    const now = 1767225600;

    it('seals the token byte for byte and opens it (padded and unpadded)', async () => {
      const f = V.token.fields;
      const fields = {
        rand: f.rand,
        color: f.color,
        accountId: BigInt(f.account_id),
        serverId: BigInt(f.server_id),
        timeout: BigInt(f.timeout),
        location: f.location,
        status: f.status as AuthToken_Status,
      };
      assert.equal(toHex(toBinary(AuthTokenSchema, create(AuthTokenSchema, fields))), V.token.auth_token_protobuf_hex);
      const token = await sealToken(crypto, tokenKey, fields, fromHex(V.token.nonce_hex));
      assert.equal(token, V.token.token);
      for (const tk of [V.token.token, V.token.token_padded]) {
        const opened = await openToken(crypto, [fromBase64('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='), tokenKey], tk, now);
        assert.deepEqual(opened, fields);
      }
      assert.equal(V.token.aad, 'janus/v1 token');
    });

    it('rejects the negative tokens as malformed', async () => {
      for (const neg of V.records.negative.filter((n: { token?: string }) => n.token)) {
        await assert.rejects(openToken(crypto, [tokenKey], neg.token, now), (e) => isJanusError(e, ErrorCode.TokenMalformed), neg.what);
      }
    });

    it('reproduces the client handshake: signature input, signature, CSHandshake, Packet, frame', async () => {
      const clientKey = await crypto.importSigningKey(K.client_signing_private_pem);
      const eph = await crypto.x25519FromPkcs8(fromHex(K.client_ephemeral_pkcs8_hex));
      assert.equal(toHex(eph.publicKey), K.client_ephemeral_public_hex);
      const input = clientSignatureInput(eph.publicKey, BigInt(H.client_timestamp), BigInt(H.server_id));
      assert.equal(toHex(input), H.client_signature_input_hex);
      assert.equal(toHex(await crypto.ed25519Sign(clientKey, input)), H.client_signature_hex);
      const hello = await createClientHello({
        crypto,
        clientKey,
        certVersion: H.cert_version,
        serverId: BigInt(H.server_id),
        serverCertVersion: H.server_cert_version,
        timestamp: BigInt(H.client_timestamp),
        ephemeral: eph,
      });
      assert.equal(toHex(hello.body), H.cs_packet_hex);
      assert.equal(toHex(decodePacket(hello.body).data), H.cs_handshake_protobuf_hex);
      assert.equal(toHex(encodeFrame(hello.body)), H.cs_frame_hex);
      assert.equal(toHex(await crypto.sha256(hello.body)), H.cs_body_sha256_hex);
    });

    it('reproduces the server handshake and both sides agree on the key schedule', async () => {
      const serverCfg = {
        crypto,
        encrypted: true,
        clientKeys: new Map([[1, await crypto.importVerifyKey(K.client_signing_public_pem)]]),
        serverKeys: new Map([[1, await crypto.importSigningKey(K.server_signing_private_pem)]]),
        handshakeSkew: 300,
      };
      const csBody = fromHex(H.cs_packet_hex);
      const hs = decodeClientHello(csBody);
      assert.equal(await checkClientHello(serverCfg, hs, H.client_timestamp), null);
      const serverEph = await crypto.x25519FromPkcs8(fromHex(K.server_ephemeral_pkcs8_hex));
      assert.equal(toHex(serverEph.publicKey), K.server_ephemeral_public_hex);
      const input = serverSignatureInput(fromHex(H.cs_body_sha256_hex), serverEph.publicKey, BigInt(H.server_timestamp), 1, H.start_index, 1);
      assert.equal(toHex(input), H.server_signature_input_hex);
      const sh = await createServerHello(serverCfg, {
        csBody,
        hs,
        timestamp: BigInt(H.server_timestamp),
        startIndex: H.start_index,
        ephemeral: serverEph,
      });
      assert.equal(toHex(decodePacket(sh.body).data), H.sc_handshake_protobuf_hex);
      assert.equal(toHex(sh.body), H.sc_packet_hex);
      assert.equal(toHex(encodeFrame(sh.body)), H.sc_frame_hex);
      assert.equal(toHex(await crypto.sha256(fromHex(K.client_ephemeral_public_hex + K.server_ephemeral_public_hex))), KS.salt_hex);
      const shared = await crypto.x25519(serverEph.privateKey, fromHex(K.client_ephemeral_public_hex));
      assert.equal(toHex(shared), KS.shared_secret_hex);
      assert.equal(toHex(await crypto.hkdfSha256(shared, fromHex(KS.salt_hex), utf8(KS.info), 88)), KS.okm_hex);
      const keys = await deriveSessionKeys(crypto, shared, fromHex(K.client_ephemeral_public_hex), serverEph.publicKey);
      assert.deepEqual(
        { c: toHex(keys.c2sKey), s: toHex(keys.s2cKey), ci: toHex(keys.c2sIv), si: toHex(keys.s2cIv) },
        { c: KS.c2s_key_hex, s: KS.s2c_key_hex, ci: KS.c2s_iv_hex, si: KS.s2c_iv_hex },
      );
      assert.deepEqual(sh.keys, keys);

      // The client side accepts the vector SCHandshake and derives the same keys.
      const clientEph = await crypto.x25519FromPkcs8(fromHex(K.client_ephemeral_pkcs8_hex));
      const hello = { body: csBody, ephemeral: clientEph, serverCertVersion: 1 };
      const pins = new Map([[1, await crypto.importVerifyKey(K.server_signing_public_pem)]]);
      const res = await acceptServerHello(crypto, hello, fromHex(H.sc_packet_hex), pins);
      assert.deepEqual(res.keys, keys);
      assert.equal(res.startIndex, H.start_index);
      // A flipped signature byte fails on the client.
      const bad = fromHex(H.sc_packet_hex);
      bad[60]! ^= 1;
      await assert.rejects(acceptServerHello(crypto, hello, bad, pins), (e) => isJanusError(e, ErrorCode.HandshakeInvalid));
    });

    it('seals and opens every record byte for byte, both directions', async () => {
      const dirs = [
        ['client_to_server', KS.c2s_key_hex, KS.c2s_iv_hex],
        ['server_to_client', KS.s2c_key_hex, KS.s2c_iv_hex],
      ] as const;
      for (const [name, key, iv] of dirs) {
        const aead = await crypto.aeadKey(fromHex(key));
        const sealer = new RecordSealer(aead, fromHex(iv));
        const opener = new RecordOpener(aead, fromHex(iv));
        for (const r of V.records[name]) {
          const packet = vectorPacket(r.packet);
          assert.equal(toHex(encodePacket(packet)), r.packet_hex, `${name} ${r.n} packet`);
          assert.deepEqual(decodePacket(fromHex(r.packet_hex)), packet);
          assert.equal(toHex(recordNonce(fromHex(iv), r.n)), r.nonce_hex);
          assert.equal(sealer.count, r.n);
          const record = await sealer.seal(fromHex(r.packet_hex));
          assert.equal(toHex(record), r.record_hex, `${name} ${r.n} record`);
          assert.equal(toHex(encodeFrame(record)), r.frame_hex);
          assert.equal(toHex(await opener.open(fromHex(r.record_hex))), r.packet_hex);
        }
      }
      const compressed = V.records.client_to_server.find((r: { packet: { compress?: boolean } }) => r.packet.compress);
      assert.equal(toHex(inflateSync(fromHex(compressed.packet.data))), V.records.inflated_hex);
    });

    it('fails every negative record the way it says', async () => {
      const aead = await crypto.aeadKey(fromHex(KS.c2s_key_hex));
      for (const neg of V.records.negative.filter((n: { record_hex?: string }) => n.record_hex)) {
        const opener = new RecordOpener(aead, fromHex(KS.c2s_iv_hex));
        setRecordCount(opener, neg.n);
        await assert.rejects(async () => opener.open(fromHex(neg.record_hex)), (e) => isJanusError(e, ErrorCode.RecordOpen), neg.what);
      }
    });
  });
}

describe('strict base64url', () => {
  it('accepts exactly the padding that completes the last group', () => {
    assert.deepEqual(base64UrlDecodeStrict('AQ'), Uint8Array.of(1));
    assert.deepEqual(base64UrlDecodeStrict('AQ=='), Uint8Array.of(1));
    assert.deepEqual(base64UrlDecodeStrict('AQI='), Uint8Array.of(1, 2));
    assert.deepEqual(base64UrlDecodeStrict('AR'), Uint8Array.of(1), 'unused bits are ignored');
    for (const bad of ['AQ=', 'AQ===', 'AQID=', 'A', 'AQ I', ' AQ', 'AQ\n', 'A+', 'A/', 'AQ=A', '=']) {
      assert.throws(() => base64UrlDecodeStrict(bad), (e) => isJanusError(e, ErrorCode.TokenMalformed), JSON.stringify(bad));
    }
  });
});
