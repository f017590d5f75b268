/**
 * A throwaway v1 key set for one bench run, laid out like `janus keygen` writes it
 * (server-v1.key.pem, client-v1.pub.pem, token.key) in a fresh temp directory, plus what
 * the clients need: the client private key, the pinned server public key and a token
 * sealer (PROTOCOL.md 5, 6).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthToken_Status, sealToken } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';

/** The key set of one run. */
export interface BenchKeys {
  /** Directory to give the gateway as `keys.dir`. */
  readonly dir: string;
  /** Client Ed25519 private key, PKCS#8 PEM (ClientOptions.clientKeyPem). */
  readonly clientKeyPem: string;
  /** Server Ed25519 public key v1, SPKI PEM (ClientOptions.serverKeys[1]). */
  readonly serverPubPem: string;
  /**
   * Seals a gateway token (status GATE, server id 1, valid one hour) for `uid`.
   * @param uid account id, > 0.
   */
  token(uid: bigint): Promise<string>;
  /** Deletes the directory. Idempotent. */
  remove(): void;
}

/** Generates the keys and writes them to a new temp directory (mode 0600 for secrets). */
export function makeBenchKeys(): BenchKeys {
  const dir = mkdtempSync(join(tmpdir(), 'janus-bench-keys-'));
  const server = generateKeyPairSync('ed25519');
  const client = generateKeyPairSync('ed25519');
  const serverPubPem = server.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const clientKeyPem = client.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const tokenKey = randomBytes(32);
  writeFileSync(join(dir, 'server-v1.key.pem'), server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  writeFileSync(join(dir, 'server-v1.pub.pem'), serverPubPem);
  writeFileSync(join(dir, 'client-v1.pub.pem'), client.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  writeFileSync(join(dir, 'token.key'), tokenKey.toString('base64') + '\n', { mode: 0o600 });
  return {
    dir,
    clientKeyPem,
    serverPubPem,
    token: (uid) =>
      sealToken(nodeCrypto, tokenKey, {
        accountId: uid,
        serverId: 1n,
        timeout: BigInt(Math.floor(Date.now() / 1000) + 3600),
        status: AuthToken_Status.GATE,
      }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
