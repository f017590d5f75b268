/**
 * The layout of a key directory as `janus keygen` writes it (PROTOCOL.md 5): the one place
 * that knows the file names, for the writer (cli/keygen.ts) and every reader (the gateway's
 * key ring, the terminal client, tests and the bench).
 */
import { ErrorCode, JanusError } from '@janus/protocol';

/** The token key's file name: one per directory, whatever the versions. */
export const TOKEN_KEY_FILE = 'token.key';

/** Largest key version: versions travel as i32be in the handshake (PROTOCOL.md 7.3). */
export const MAX_KEY_VERSION = 2 ** 31 - 1;

/** The file names (not paths) of one key version in a key directory (PROTOCOL.md 5). */
export interface KeyDirFiles {
  /** `server-vN.key.pem`: the gateway's Ed25519 signing key, PKCS#8 PEM. */
  serverKey: string;
  /** `server-vN.pub.pem`: its public key, SPKI PEM, pinned by clients. */
  serverPub: string;
  /** `client-vN.key.pem`: the client build's Ed25519 signing key, PKCS#8 PEM. */
  clientKey: string;
  /** `client-vN.pub.pem`: its public key, SPKI PEM, accepted by the gateway. */
  clientPub: string;
  /** `token.key`: the AES-256 token key, standard base64 of 32 bytes; one per directory. */
  tokenKey: string;
}

/**
 * The five file names for key `version`; every loader of a key directory uses these.
 * @throws JanusError JANUS_ERR_ARG_INVALID when `version` is not an integer in [1, 2^31 - 1].
 */
export function keyFileNames(version: number): KeyDirFiles {
  checkKeyVersion(version);
  return {
    serverKey: `server-v${version}.key.pem`,
    serverPub: `server-v${version}.pub.pem`,
    clientKey: `client-v${version}.key.pem`,
    clientPub: `client-v${version}.pub.pem`,
    tokenKey: TOKEN_KEY_FILE,
  };
}

/** @throws JanusError JANUS_ERR_ARG_INVALID when `version` is not an integer in [1, 2^31 - 1]. */
export function checkKeyVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
    throw new JanusError(ErrorCode.ArgInvalid, `key version must be an integer from 1 to ${MAX_KEY_VERSION}, got ${version}`);
  }
}

/**
 * The versions present in a directory listing for one kind of key file, ascending.
 * @param names file names in the directory (`readdirSync(dir)`).
 * @param kind which file of each version to look for, e.g. `serverKey`.
 */
export function keyVersions(names: readonly string[], kind: Exclude<keyof KeyDirFiles, 'tokenKey'>): number[] {
  const versions: number[] = [];
  for (const n of names) {
    const m = /^(?:server|client)-v([1-9]\d*)\.(?:key|pub)\.pem$/.exec(n);
    const v = Number(m?.[1]);
    if (m && v <= MAX_KEY_VERSION && keyFileNames(v)[kind] === n) versions.push(v);
  }
  return versions.sort((a, b) => a - b);
}
