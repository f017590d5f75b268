/**
 * The node:crypto back end: synchronous, the gateway's (fastest). PROTOCOL.md 5-7.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { ErrorCode, JanusError } from '../errors.js';
import type { AeadKey, CryptoBackend, RecordAead, SigningKey, VerifyKey, X25519KeyPair } from './backend.js';
import { nonceRecords } from '../record.js';
import { GcmRecords } from './gcm-records.js';

const TAG_BYTES = 16;

// Raw X25519 public keys go in and out through JWK (`x` is the raw key, base64url), not
// SPKI DER: OpenSSL 3's DER encoder and decoder cost about 80 us per key each on Node 20,
// the JWK paths 2-7 us (docs/decisions/0008-handshake-offload.md).

/** The raw 32-byte public key of an X25519 KeyObject (public or private). */
export function rawX25519Public(key: KeyObject): Uint8Array {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

/** An X25519 public KeyObject from its raw 32 bytes. @throws Error when not 32 bytes. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new Error(`an X25519 public key is 32 bytes, got ${raw.length}`);
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

/** generateKeyPairSync with a JWK public key and a KeyObject private key (@types/node has no such overload). */
const generateX25519WithJwk = generateKeyPairSync as unknown as (
  type: 'x25519',
  options: { publicKeyEncoding: { format: 'jwk' } },
) => { privateKey: KeyObject; publicKey: JsonWebKey };

class NodeAeadKey implements AeadKey<true> {
  constructor(private readonly key: KeyObject) {}

  /** The record path without a cipher object per record (gcm-records.ts). */
  records(iv: Uint8Array): RecordAead<true> {
    return new GcmRecords(this.key, iv, nonceRecords(this, iv));
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    if (aad.length !== 0) c.setAAD(aad);
    const head = c.update(plaintext);
    c.final();
    const tag = c.getAuthTag();
    const out = Buffer.allocUnsafe(head.length + TAG_BYTES);
    head.copy(out, 0);
    tag.copy(out, head.length);
    return out;
  }

  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
    if (sealed.length < TAG_BYTES) throw new JanusError(ErrorCode.RecordOpen, 'record shorter than its tag');
    const d = createDecipheriv('aes-256-gcm', this.key, nonce);
    if (aad.length !== 0) d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const out = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      d.final();
    } catch {
      throw new JanusError(ErrorCode.RecordOpen, 'record does not authenticate');
    }
    return out;
  }
}

/** The synchronous node:crypto back end. */
export const nodeCrypto: CryptoBackend<true> = {
  name: 'node',
  synchronous: true,
  randomBytes: (n) => randomBytes(n),
  sha256: (data) => createHash('sha256').update(data).digest(),
  hkdfSha256: (ikm, salt, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  x25519Generate(): X25519KeyPair {
    // The public key comes out as JWK from the generation itself, not from exporting the new
    // KeyObject afterwards: on Node 20.20 that export (KeyObject#export, ExportJWKEdKey)
    // can deadlock when a garbage collection it triggers finalizes the just-finished
    // key-generation job, whose destructor waits on the mutex the export holds (seen twice:
    // a bench load generator and a loop of generate + export hung in futex_wait, gdb
    // backtrace ExportJWKEdKey -> Heap::CollectGarbage -> ~KeyGenJob -> uv_mutex_lock).
    // Exported inside the job, the key is encoded while the job is still alive.
    const { privateKey, publicKey } = generateX25519WithJwk('x25519', { publicKeyEncoding: { format: 'jwk' } });
    if (typeof publicKey.x !== 'string') throw new Error('X25519 key generation returned no public key');
    return { privateKey, publicKey: Buffer.from(publicKey.x, 'base64url') };
  },
  x25519FromPkcs8(pkcs8): X25519KeyPair {
    const privateKey = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    return { privateKey, publicKey: rawX25519Public(privateKey) };
  },
  x25519(privateKey, peerPublic): Uint8Array {
    return diffieHellman({ privateKey: privateKey as KeyObject, publicKey: x25519PublicKey(peerPublic) });
  },
  importSigningKey(pem): SigningKey {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
      return { kind: 'ed25519-private', handle: key };
    } catch (err) {
      throw new JanusError(ErrorCode.KeyInvalid, `not an Ed25519 PKCS#8 private key: ${(err as Error).message}`);
    }
  },
  importVerifyKey(pem): VerifyKey {
    try {
      const key = createPublicKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
      return { kind: 'ed25519-public', handle: key };
    } catch (err) {
      throw new JanusError(ErrorCode.KeyInvalid, `not an Ed25519 SPKI public key: ${(err as Error).message}`);
    }
  },
  ed25519Sign: (key, message) => sign(null, message, key.handle as KeyObject),
  ed25519Verify(key, message, signature): boolean {
    if (signature.length !== 64) return false;
    return verify(null, message, key.handle as KeyObject, signature);
  },
  aeadKey(key): AeadKey<true> {
    if (key.length !== 32) throw new JanusError(ErrorCode.KeyInvalid, `AES-256 key must be 32 bytes, got ${key.length}`);
    return new NodeAeadKey(createSecretKey(key));
  },
};
