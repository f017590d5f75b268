/**
 * Key material for the protocol package's tests (PROTOCOL.md 5: Ed25519 client and server keys).
 */
import { generateKeyPairSync } from 'node:crypto';

/**
 * A fresh Ed25519 key pair as PEM strings: `priv` PKCS#8, `pub` SPKI, the forms
 * `importSigningKey` / `importVerifyKey` take.
 */
export function ed25519Pem(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { priv: privateKey, pub: publicKey };
}
