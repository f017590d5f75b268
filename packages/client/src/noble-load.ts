/**
 * Loads the pure-JS noble back end (noble-crypto.ts) on demand: a dynamic import, so a
 * bundle keeps it in a chunk of its own that a browser with WebCrypto Ed25519 and X25519
 * never downloads.
 */
import type { CryptoBackend } from '@janus/protocol';

/** The noble back end (synchronous; @noble/curves, @noble/ciphers, @noble/hashes). */
export async function loadNobleCrypto(): Promise<CryptoBackend<true>> {
  return (await import('./noble-crypto.js')).nobleCrypto;
}
