/**
 * The key schedule, PROTOCOL.md 7.4:
 * `okm = HKDF-SHA256(ikm=shared, salt=SHA-256(client_pub || server_pub), info="janus/v1 session keys", L=88)`,
 * `c2s_key=okm[0:32]`, `s2c_key=okm[32:64]`, `c2s_iv=okm[64:76]`, `s2c_iv=okm[76:88]`.
 */
import type { CryptoBackend } from './crypto/backend.js';
import { concatBytes, utf8 } from './bytes.js';

/** The HKDF info string of the key schedule. */
export const SESSION_KEYS_INFO = utf8('janus/v1 session keys');

/** Session keys of both directions (keys 32 bytes, IVs 12 bytes). */
export interface SessionKeys {
  c2sKey: Uint8Array;
  s2cKey: Uint8Array;
  c2sIv: Uint8Array;
  s2cIv: Uint8Array;
}

/** Derives the session keys from the X25519 shared secret and both raw public keys. */
export async function deriveSessionKeys(
  crypto: CryptoBackend,
  shared: Uint8Array,
  clientPub: Uint8Array,
  serverPub: Uint8Array,
): Promise<SessionKeys> {
  const salt = await crypto.sha256(concatBytes(clientPub, serverPub));
  const okm = await crypto.hkdfSha256(shared, salt, SESSION_KEYS_INFO, 88);
  return {
    c2sKey: okm.slice(0, 32),
    s2cKey: okm.slice(32, 64),
    c2sIv: okm.slice(64, 76),
    s2cIv: okm.slice(76, 88),
  };
}
