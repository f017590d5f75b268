/**
 * The pure-JS crypto back end, for browsers whose WebCrypto lacks Ed25519 or X25519 (or a
 * page with no WebCrypto at all: `crypto.subtle` exists only in secure contexts). Built on
 * the audited noble libraries: @noble/curves (Ed25519, X25519), @noble/ciphers (AES-256-GCM),
 * @noble/hashes (SHA-256, HKDF). PROTOCOL.md 5-7. Synchronous, like node:crypto, so the
 * link's synchronous fast paths apply. Decision: docs/decisions/0013-browser-client.md.
 *
 * Keys come as the PEM that `openssl genpkey -algorithm ed25519` and `janus keygen` write:
 * PKCS#8 v1 (48 bytes of DER) and SPKI (44 bytes). The DER of an Ed25519 or X25519 key is
 * a fixed prefix and the 32 raw key bytes, so the prefix is checked and the rest taken.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  bytesEqual,
  ErrorCode,
  fromHex,
  isAllZero,
  JanusError,
  pemToDer,
  type AeadKey,
  type CryptoBackend,
  type SigningKey,
  type VerifyKey,
  type X25519KeyPair,
} from '@janus/protocol';

/** DER before the 32-byte seed of an Ed25519 PKCS#8 v1 private key (RFC 8410). */
const ED25519_PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
/** DER before the 32-byte public key of an Ed25519 SPKI public key (RFC 8410). */
const ED25519_SPKI_PREFIX = fromHex('302a300506032b6570032100');
/** DER before the 32-byte private key of an X25519 PKCS#8 v1 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = fromHex('302e020100300506032b656e04220420');
const KEY_BYTES = 32;

/** The 32 key bytes after `prefix`, or null when `der` is not exactly prefix + 32 bytes. */
function rawKey(der: Uint8Array, prefix: Uint8Array): Uint8Array | null {
  if (der.length !== prefix.length + KEY_BYTES || !bytesEqual(der.subarray(0, prefix.length), prefix)) return null;
  return der.slice(prefix.length);
}

class NobleAeadKey implements AeadKey<true> {
  constructor(private readonly key: Uint8Array) {}

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return gcm(this.key, nonce, aad).encrypt(plaintext);
  }

  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
    if (sealed.length < 16) throw new JanusError(ErrorCode.RecordOpen, 'record shorter than its tag');
    try {
      return gcm(this.key, nonce, aad).decrypt(sealed);
    } catch {
      throw new JanusError(ErrorCode.RecordOpen, 'record does not authenticate');
    }
  }
}

function x25519Pair(privateKey: Uint8Array): X25519KeyPair {
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/** The synchronous noble back end. `name` is `'noble'`. */
export const nobleCrypto: CryptoBackend<true> = {
  name: 'noble',
  synchronous: true,
  randomBytes(n) {
    const out = new Uint8Array(n);
    globalThis.crypto.getRandomValues(out);
    return out;
  },
  sha256: (data) => sha256(data),
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  x25519Generate: () => x25519Pair(x25519.utils.randomSecretKey()),
  x25519FromPkcs8(pkcs8) {
    const raw = rawKey(pkcs8, X25519_PKCS8_PREFIX);
    if (!raw) throw new JanusError(ErrorCode.KeyInvalid, 'not an X25519 PKCS#8 v1 private key');
    return x25519Pair(raw);
  },
  x25519(privateKey, peerPublic) {
    if (peerPublic.length !== KEY_BYTES) throw new JanusError(ErrorCode.HandshakeInvalid, `X25519 public key must be 32 bytes, got ${peerPublic.length}`);
    // noble refuses a low-order peer key itself; the all-zero check keeps that promise
    // whatever the library version (the handshake maps a throw to JANUS_ERR_HANDSHAKE_ZERO_SHARED).
    const shared = x25519.getSharedSecret(privateKey as Uint8Array, peerPublic);
    if (isAllZero(shared)) throw new JanusError(ErrorCode.HandshakeZeroShared, 'X25519 shared secret is all zero');
    return shared;
  },
  importSigningKey(pem): SigningKey {
    const der = pemToDer(pem, 'PRIVATE KEY');
    if (!der) throw new JanusError(ErrorCode.KeyInvalid, 'no PRIVATE KEY PEM block');
    const seed = rawKey(der, ED25519_PKCS8_PREFIX);
    if (!seed) throw new JanusError(ErrorCode.KeyInvalid, 'not an Ed25519 PKCS#8 v1 private key (what openssl genpkey -algorithm ed25519 writes)');
    return { kind: 'ed25519-private', handle: seed };
  },
  importVerifyKey(pem): VerifyKey {
    const der = pemToDer(pem, 'PUBLIC KEY');
    if (!der) throw new JanusError(ErrorCode.KeyInvalid, 'no PUBLIC KEY PEM block');
    const pub = rawKey(der, ED25519_SPKI_PREFIX);
    if (!pub || !ed25519.utils.isValidPublicKey(pub, false)) throw new JanusError(ErrorCode.KeyInvalid, 'not an Ed25519 SPKI public key');
    return { kind: 'ed25519-public', handle: pub };
  },
  ed25519Sign: (key, message) => ed25519.sign(message, key.handle as Uint8Array),
  ed25519Verify(key, message, signature) {
    if (signature.length !== 64) return false;
    try {
      // zip215 false: RFC 8032 / FIPS 186-5 rules, as node:crypto and WebCrypto verify.
      return ed25519.verify(signature, message, key.handle as Uint8Array, { zip215: false });
    } catch {
      return false;
    }
  },
  aeadKey(key) {
    if (key.length !== 32) throw new JanusError(ErrorCode.KeyInvalid, `AES-256 key must be 32 bytes, got ${key.length}`);
    return new NobleAeadKey(key.slice());
  },
};
