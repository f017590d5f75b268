/**
 * Which crypto back end a browser client uses when the options name none: WebCrypto when
 * the page's SubtleCrypto does Ed25519 and X25519 (current Chromium, Firefox and Safari;
 * only in secure contexts: https or localhost), else the pure-JS noble back end, loaded on
 * demand (noble-load.ts). Decision: docs/decisions/0013-browser-client.md.
 */
import { webCrypto, type CryptoBackend } from '@janus/protocol';
import { loadNobleCrypto } from './noble-load.js';

/**
 * True when `globalThis.crypto.subtle` can generate X25519 and Ed25519 keys (what the
 * WebCrypto back end needs besides SHA-256, HKDF and AES-GCM, which every SubtleCrypto has).
 * Never throws.
 */
export async function webCryptoHasCurves(): Promise<boolean> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return false;
  try {
    await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    return true;
  } catch {
    return false;
  }
}

/** WebCrypto when it has the curves (see {@link webCryptoHasCurves}), else noble. */
export async function selectBrowserCrypto(): Promise<CryptoBackend> {
  return (await webCryptoHasCurves()) ? webCrypto : loadNobleCrypto();
}
