/**
 * A throwaway v1 key set for one bench run, written by `janus keygen`'s own code into a
 * fresh temp directory, plus what
 * the clients need: the client private key, the pinned server public key and a token
 * sealer (PROTOCOL.md 5, 6).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyFileNames, keygen } from '@janus/gateway';
import { AuthToken_Status, parseTokenKey, sealToken } from '@janus/protocol';
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

/** Writes a v1 key set with `janus keygen`'s own code into a new temp directory. */
export async function makeBenchKeys(): Promise<BenchKeys> {
  const dir = mkdtempSync(join(tmpdir(), 'janus-bench-keys-'));
  await keygen({ outDir: dir });
  return readBenchKeys(dir);
}

/** The key set in `dir` (written by {@link makeBenchKeys}, e.g. read again in a child process). */
export function readBenchKeys(dir: string): BenchKeys {
  const names = keyFileNames(1);
  const tokenKey = parseTokenKey(readFileSync(join(dir, names.tokenKey), 'utf8'));
  return {
    dir,
    clientKeyPem: readFileSync(join(dir, names.clientKey), 'utf8'),
    serverPubPem: readFileSync(join(dir, names.serverPub), 'utf8'),
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
