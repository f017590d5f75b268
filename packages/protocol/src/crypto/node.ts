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
import type { AeadKey, CryptoBackend, SigningKey, VerifyKey, X25519KeyPair } from './backend.js';

const TAG_BYTES = 16;
// SPKI DER prefix of a raw X25519 public key (RFC 8410): SEQUENCE { AlgorithmIdentifier 1.3.101.110, BIT STRING }.
const X25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00]);

function rawX25519Public(key: KeyObject): Uint8Array {
  const der = key.export({ type: 'spki', format: 'der' });
  return new Uint8Array(der.buffer, der.byteOffset + X25519_SPKI_PREFIX.length, 32);
}

class NodeAeadKey implements AeadKey<true> {
  constructor(private readonly key: KeyObject) {}

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
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    return { privateKey, publicKey: rawX25519Public(publicKey) };
  },
  x25519FromPkcs8(pkcs8): X25519KeyPair {
    const privateKey = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    return { privateKey, publicKey: rawX25519Public(createPublicKey(privateKey)) };
  },
  x25519(privateKey, peerPublic): Uint8Array {
    const spki = new Uint8Array(X25519_SPKI_PREFIX.length + 32);
    spki.set(X25519_SPKI_PREFIX);
    spki.set(peerPublic, X25519_SPKI_PREFIX.length);
    const publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    return diffieHellman({ privateKey: privateKey as KeyObject, publicKey });
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
