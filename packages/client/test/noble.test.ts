/**
 * The noble back end (src/noble-crypto.ts) against the wire contract's vectors
 * (shared/vectors/v1.json, copied in packages/protocol/test/vectors/): every primitive and
 * the protocol package's handshake, record and token code run on it byte for byte, and it
 * agrees with node:crypto on keys it did not make. The same back end runs inside Chromium in
 * browser.test.ts.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  acceptServerHello,
  createClientHello,
  ErrorCode,
  fromHex,
  isJanusError,
  openToken,
  RecordOpener,
  RecordSealer,
  sealToken,
  setRecordCount,
  toHex,
  utf8,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { loadNobleCrypto } from '../src/index.js';

// Compiled tests run from packages/client/dist/test.
const here = dirname(fileURLToPath(import.meta.url));
const V = JSON.parse(readFileSync(join(here, '..', '..', '..', 'protocol', 'test', 'vectors', 'v1.json'), 'utf8'));
const noble = await loadNobleCrypto();
const K = V.keys;
const H = V.handshake;
const KS = V.key_schedule;

function isKeyInvalid(err: unknown): boolean {
  return isJanusError(err, ErrorCode.KeyInvalid);
}

describe('noble back end: primitives reproduce the vectors', () => {
  it('is synchronous and named noble', () => {
    assert.equal(noble.name, 'noble');
    assert.equal(noble.synchronous, true);
  });

  it('Ed25519: the client signature, and the server signature verifies (a flipped bit does not)', () => {
    const key = noble.importSigningKey(K.client_signing_private_pem);
    assert.equal(toHex(noble.ed25519Sign(key, fromHex(H.client_signature_input_hex))), H.client_signature_hex);
    const pub = noble.importVerifyKey(K.server_signing_public_pem);
    const sig = fromHex(H.server_signature_hex);
    assert.equal(noble.ed25519Verify(pub, fromHex(H.server_signature_input_hex), sig), true);
    sig[7]! ^= 1;
    assert.equal(noble.ed25519Verify(pub, fromHex(H.server_signature_input_hex), sig), false);
    assert.equal(noble.ed25519Verify(pub, fromHex(H.server_signature_input_hex), sig.subarray(1)), false);
  });

  it('X25519: the public keys from PKCS#8 and the shared secret from both sides', () => {
    const client = noble.x25519FromPkcs8(fromHex(K.client_ephemeral_pkcs8_hex));
    const server = noble.x25519FromPkcs8(fromHex(K.server_ephemeral_pkcs8_hex));
    assert.equal(toHex(client.publicKey), K.client_ephemeral_public_hex);
    assert.equal(toHex(server.publicKey), K.server_ephemeral_public_hex);
    assert.equal(toHex(noble.x25519(client.privateKey, server.publicKey)), KS.shared_secret_hex);
    assert.equal(toHex(noble.x25519(server.privateKey, client.publicKey)), KS.shared_secret_hex);
  });

  it('X25519 refuses a low-order peer key (all-zero shared secret)', () => {
    const client = noble.x25519FromPkcs8(fromHex(K.client_ephemeral_pkcs8_hex));
    assert.throws(() => noble.x25519(client.privateKey, new Uint8Array(32)));
  });

  it('SHA-256 and HKDF: cs_body digest and the 88 bytes of session key material', () => {
    assert.equal(toHex(noble.sha256(fromHex(H.cs_packet_hex))), H.cs_body_sha256_hex);
    assert.equal(toHex(noble.hkdfSha256(fromHex(KS.shared_secret_hex), fromHex(KS.salt_hex), utf8(KS.info), 88)), KS.okm_hex);
  });

  it('a fresh X25519 pair agrees with node:crypto', () => {
    const a = noble.x25519Generate();
    const b = nodeCrypto.x25519Generate();
    assert.equal(toHex(noble.x25519(a.privateKey, b.publicKey)), toHex(nodeCrypto.x25519(b.privateKey, a.publicKey)));
  });

  it('Ed25519 keys from openssl-style PEMs: node:crypto verifies noble, noble verifies node:crypto', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const privPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pubPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const msg = utf8('janus');
    const sigNoble = noble.ed25519Sign(noble.importSigningKey(privPem), msg);
    assert.equal(nodeCrypto.ed25519Verify(nodeCrypto.importVerifyKey(pubPem), msg, sigNoble), true);
    const sigNode = nodeCrypto.ed25519Sign(nodeCrypto.importSigningKey(privPem), msg);
    assert.equal(noble.ed25519Verify(noble.importVerifyKey(pubPem), msg, sigNode), true);
  });

  it('refuses keys of the wrong kind with JANUS_ERR_KEY_INVALID', () => {
    const x = generateKeyPairSync('x25519');
    const xPriv = x.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const xPub = x.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(() => noble.importSigningKey(xPriv), isKeyInvalid);
    assert.throws(() => noble.importVerifyKey(xPub), isKeyInvalid);
    assert.throws(() => noble.importSigningKey(K.server_signing_public_pem), isKeyInvalid);
    assert.throws(() => noble.importVerifyKey('-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----'), isKeyInvalid);
    assert.throws(() => noble.aeadKey(new Uint8Array(16)), isKeyInvalid);
  });
});

describe('noble back end: the protocol code on it reproduces the vectors', () => {
  it('createClientHello / acceptServerHello: CSHandshake byte for byte, the vector session keys', async () => {
    const clientKey = noble.importSigningKey(K.client_signing_private_pem);
    const hello = await createClientHello({
      crypto: noble,
      clientKey,
      certVersion: H.cert_version,
      serverId: BigInt(H.server_id),
      serverCertVersion: H.server_cert_version,
      timestamp: BigInt(H.client_timestamp),
      ephemeral: noble.x25519FromPkcs8(fromHex(K.client_ephemeral_pkcs8_hex)),
    });
    assert.equal(toHex(hello.body), H.cs_packet_hex);
    const pins = new Map([[H.server_cert_version as number, noble.importVerifyKey(K.server_signing_public_pem)]]);
    const res = await acceptServerHello(noble, hello, fromHex(H.sc_packet_hex), pins);
    assert.equal(res.startIndex, H.start_index);
    assert.deepEqual(
      res.keys && [toHex(res.keys.c2sKey), toHex(res.keys.s2cKey), toHex(res.keys.c2sIv), toHex(res.keys.s2cIv)],
      [KS.c2s_key_hex, KS.s2c_key_hex, KS.c2s_iv_hex, KS.s2c_iv_hex],
    );
    const tampered = fromHex(H.sc_packet_hex);
    tampered[60]! ^= 1;
    await assert.rejects(acceptServerHello(noble, hello, tampered, pins), (err: unknown) => isJanusError(err, ErrorCode.HandshakeInvalid));
  });

  it('records: every vector record seals byte for byte and opens, both directions; the negatives fail', () => {
    for (const [dir, key, iv] of [
      ['client_to_server', KS.c2s_key_hex, KS.c2s_iv_hex],
      ['server_to_client', KS.s2c_key_hex, KS.s2c_iv_hex],
    ] as const) {
      const aead = noble.aeadKey(fromHex(key));
      const sealer = new RecordSealer(aead, fromHex(iv));
      const opener = new RecordOpener(aead, fromHex(iv));
      for (const r of V.records[dir]) {
        assert.equal(toHex(sealer.seal(fromHex(r.packet_hex))), r.record_hex, `${dir} n=${r.n}`);
        assert.equal(toHex(opener.open(fromHex(r.record_hex))), r.packet_hex, `${dir} n=${r.n} opened`);
      }
    }
    const negatives = V.records.negative.filter((n: { record_hex?: string }) => n.record_hex !== undefined);
    assert.ok(negatives.length > 0);
    for (const neg of negatives) {
      const opener = new RecordOpener(noble.aeadKey(fromHex(KS.c2s_key_hex)), fromHex(KS.c2s_iv_hex));
      setRecordCount(opener, neg.n);
      assert.throws(() => opener.open(fromHex(neg.record_hex)), (err: unknown) => isJanusError(err, ErrorCode.RecordOpen), neg.what);
    }
  });

  it('tokens: seals the vector token and opens it padded and unpadded', async () => {
    const key = fromHex(Buffer.from(V.token.token_key_b64, 'base64').toString('hex'));
    const f = V.token.fields;
    const fields = {
      rand: f.rand,
      color: f.color,
      accountId: BigInt(f.account_id),
      serverId: BigInt(f.server_id),
      timeout: BigInt(f.timeout),
      location: f.location,
      status: f.status,
    };
    assert.equal(await sealToken(noble, key, fields, fromHex(V.token.nonce_hex)), V.token.token);
    for (const tk of [V.token.token, V.token.token_padded]) {
      const opened = await openToken(noble, [new Uint8Array(32), key], tk, 1767225600);
      assert.deepEqual({ ...opened, unencrypted: undefined }, { ...fields, unencrypted: undefined });
    }
  });
});
