/**
 * The crypto primitives Janus needs (PROTOCOL.md 5-7), behind one interface with two back
 * ends: node:crypto (synchronous, the gateway's) and WebCrypto (asynchronous, browsers').
 *
 * Shape: `CryptoBackend<S>` where `S` is `true` for a synchronous back end. Every method
 * returns `Out<S, T>`: `T` itself when synchronous, `Promise<T>` otherwise. Code written for
 * both `await`s the result (a no-op on plain values); the gateway, typed with
 * `CryptoBackend<true>`, calls the record layer with no promise at all.
 */

/** `T` for a synchronous back end (`S = true`), `Promise<T>` for an asynchronous one. */
export type Out<S extends boolean, T> = S extends true ? T : Promise<T>;

/** An Ed25519 private key loaded into a back end (opaque handle). */
export interface SigningKey {
  readonly kind: 'ed25519-private';
  readonly handle: unknown;
}

/** An Ed25519 public key loaded into a back end (opaque handle). */
export interface VerifyKey {
  readonly kind: 'ed25519-public';
  readonly handle: unknown;
}

/** An X25519 key pair: the private half opaque, the public half raw (32 bytes). */
export interface X25519KeyPair {
  readonly privateKey: unknown;
  readonly publicKey: Uint8Array;
}

/**
 * The records of one direction under one key (PROTOCOL.md 7.5): record `n` (0 <= n <= 2^32 - 1)
 * is AES-256-GCM with nonce `iv XOR (0x00000000 || u64be(n))` and empty AAD, ciphertext ||
 * tag(16). The same bytes as {@link AeadKey.seal} / {@link AeadKey.open} with that nonce,
 * by a path that may use the numbering (keystream made ahead).
 */
export interface RecordAead<S extends boolean> {
  /** Seals record `n`. */
  seal(n: number, plaintext: Uint8Array): Out<S, Uint8Array>;
  /**
   * Opens record `n`.
   * @throws JanusError JANUS_ERR_RECORD_OPEN when it does not authenticate (async: rejects).
   */
  open(n: number, sealed: Uint8Array): Out<S, Uint8Array>;
}

/** AES-256-GCM under one key. `nonce` is 12 bytes; the 16-byte tag follows the ciphertext. */
export interface AeadKey<S extends boolean> {
  /**
   * Optional: a faster path for the records of one direction whose 12-byte IV is `iv`
   * (RecordSealer and RecordOpener use it when present).
   */
  records?(iv: Uint8Array): RecordAead<S>;
  /** Encrypts; returns ciphertext || tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Out<S, Uint8Array>;
  /**
   * Decrypts ciphertext || tag.
   * @throws JanusError JANUS_ERR_RECORD_OPEN when it does not authenticate (async: rejects).
   */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Out<S, Uint8Array>;
}

/** The primitives of one crypto back end. */
export interface CryptoBackend<S extends boolean = boolean> {
  /** `'node'` or `'webcrypto'`. */
  readonly name: string;
  readonly synchronous: S;
  /** `n` cryptographically random bytes (synchronous in both back ends). */
  randomBytes(n: number): Uint8Array;
  sha256(data: Uint8Array): Out<S, Uint8Array>;
  /** HKDF-SHA256 (RFC 5869), `length` bytes. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Out<S, Uint8Array>;
  /** A fresh X25519 pair. */
  x25519Generate(): Out<S, X25519KeyPair>;
  /** An X25519 pair from its PKCS#8 DER private key (fixed keys in tests and vectors). */
  x25519FromPkcs8(pkcs8: Uint8Array): Out<S, X25519KeyPair>;
  /**
   * X25519(private, peer public raw 32 bytes): the 32-byte shared secret. Both back ends
   * throw (or reject) on a low-order peer key; the handshake maps that to
   * JANUS_ERR_HANDSHAKE_ZERO_SHARED.
   */
  x25519(privateKey: unknown, peerPublic: Uint8Array): Out<S, Uint8Array>;
  /** Loads a PKCS#8 `PRIVATE KEY` PEM. @throws JanusError JANUS_ERR_KEY_INVALID. */
  importSigningKey(pem: string): Out<S, SigningKey>;
  /** Loads an SPKI `PUBLIC KEY` PEM. @throws JanusError JANUS_ERR_KEY_INVALID. */
  importVerifyKey(pem: string): Out<S, VerifyKey>;
  ed25519Sign(key: SigningKey, message: Uint8Array): Out<S, Uint8Array>;
  /** False for a bad signature (never throws for one). */
  ed25519Verify(key: VerifyKey, message: Uint8Array, signature: Uint8Array): Out<S, boolean>;
  /** AES-256-GCM under a 32-byte key. */
  aeadKey(key: Uint8Array): Out<S, AeadKey<S>>;
}

/** Parses a PEM block of the given label into DER bytes. Returns null when absent or not base64. */
export function pemToDer(pem: string, label: string): Uint8Array | null {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (!m) return null;
  const b64 = m[1]!.replace(/\s+/g, '');
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    return null; // not base64: callers report JANUS_ERR_KEY_INVALID
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
