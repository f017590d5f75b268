/**
 * The WebCrypto back end (`globalThis.crypto.subtle`): asynchronous, what browsers have.
 * PROTOCOL.md 5-7. Needs Ed25519 and X25519 in SubtleCrypto (Node >= 20, current browsers).
 */
import { ErrorCode, JanusError } from '../errors.js';
import { pemToDer, type AeadKey, type CryptoBackend, type SigningKey, type VerifyKey, type X25519KeyPair } from './backend.js';

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const bytes = (b: ArrayBuffer): Uint8Array => new Uint8Array(b);
// WebCrypto's typings want ArrayBuffer-backed views; Uint8Array<ArrayBufferLike> is fine at run time.
const bs = (b: Uint8Array): BufferSource => b as unknown as BufferSource;

class WebAeadKey implements AeadKey<false> {
  constructor(private readonly key: CryptoKey) {}

  async seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    return bytes(await subtle().encrypt({ name: 'AES-GCM', iv: bs(nonce), additionalData: bs(aad) }, this.key, bs(plaintext)));
  }

  async open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
    if (sealed.length < 16) throw new JanusError(ErrorCode.RecordOpen, 'record shorter than its tag');
    try {
      return bytes(await subtle().decrypt({ name: 'AES-GCM', iv: bs(nonce), additionalData: bs(aad) }, this.key, bs(sealed)));
    } catch {
      throw new JanusError(ErrorCode.RecordOpen, 'record does not authenticate');
    }
  }
}

async function x25519Pair(privateKey: CryptoKey, publicKey: CryptoKey): Promise<X25519KeyPair> {
  return { privateKey, publicKey: bytes(await subtle().exportKey('raw', publicKey)) };
}

/** The asynchronous WebCrypto back end. */
export const webCrypto: CryptoBackend<false> = {
  name: 'webcrypto',
  synchronous: false,
  randomBytes(n) {
    const out = new Uint8Array(n);
    globalThis.crypto.getRandomValues(out);
    return out;
  },
  async sha256(data) {
    return bytes(await subtle().digest('SHA-256', bs(data)));
  },
  async hkdfSha256(ikm, salt, info, length) {
    const key = await subtle().importKey('raw', bs(ikm), 'HKDF', false, ['deriveBits']);
    return bytes(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: bs(salt), info: bs(info) }, key, length * 8));
  },
  async x25519Generate() {
    const pair = (await subtle().generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    return x25519Pair(pair.privateKey, pair.publicKey);
  },
  async x25519FromPkcs8(pkcs8) {
    const privateKey = await subtle().importKey('pkcs8', bs(pkcs8), { name: 'X25519' }, true, ['deriveBits']);
    // WebCrypto cannot derive a public key from a private one; go through JWK (x is the public key).
    const jwk = await subtle().exportKey('jwk', privateKey);
    const publicKey = await subtle().importKey('jwk', { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! }, { name: 'X25519' }, true, []);
    return x25519Pair(privateKey, publicKey);
  },
  async x25519(privateKey, peerPublic) {
    const pub = await subtle().importKey('raw', bs(peerPublic), { name: 'X25519' }, false, []);
    return bytes(await subtle().deriveBits({ name: 'X25519', public: pub }, privateKey as CryptoKey, 256));
  },
  async importSigningKey(pem): Promise<SigningKey> {
    const der = pemToDer(pem, 'PRIVATE KEY');
    if (!der) throw new JanusError(ErrorCode.KeyInvalid, 'no PRIVATE KEY PEM block');
    try {
      return { kind: 'ed25519-private', handle: await subtle().importKey('pkcs8', bs(der), { name: 'Ed25519' }, false, ['sign']) };
    } catch (err) {
      throw new JanusError(ErrorCode.KeyInvalid, `not an Ed25519 PKCS#8 private key: ${(err as Error).message}`);
    }
  },
  async importVerifyKey(pem): Promise<VerifyKey> {
    const der = pemToDer(pem, 'PUBLIC KEY');
    if (!der) throw new JanusError(ErrorCode.KeyInvalid, 'no PUBLIC KEY PEM block');
    try {
      return { kind: 'ed25519-public', handle: await subtle().importKey('spki', bs(der), { name: 'Ed25519' }, false, ['verify']) };
    } catch (err) {
      throw new JanusError(ErrorCode.KeyInvalid, `not an Ed25519 SPKI public key: ${(err as Error).message}`);
    }
  },
  async ed25519Sign(key, message) {
    return bytes(await subtle().sign({ name: 'Ed25519' }, key.handle as CryptoKey, bs(message)));
  },
  async ed25519Verify(key, message, signature) {
    if (signature.length !== 64) return false;
    return subtle().verify({ name: 'Ed25519' }, key.handle as CryptoKey, bs(signature), bs(message));
  },
  async aeadKey(key): Promise<AeadKey<false>> {
    if (key.length !== 32) throw new JanusError(ErrorCode.KeyInvalid, `AES-256 key must be 32 bytes, got ${key.length}`);
    return new WebAeadKey(await subtle().importKey('raw', bs(key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']));
  },
};
