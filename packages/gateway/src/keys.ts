/**
 * Loads the gateway's key material (PROTOCOL.md 5) from the files the config names or
 * from a `janus keygen` directory, plus `JANUS_TOKEN_KEYS` from the environment.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, JanusError, parseTokenKey, type SigningKey, type VerifyKey } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import type { GatewayConfig } from './config.js';
import { keyFileNames, keyVersions, TOKEN_KEY_FILE } from './key-dir.js';

/** Key material in memory. */
export interface KeyRing {
  /** Server signing keys by version. */
  serverKeys: Map<number, SigningKey>;
  /** Accepted client public keys by version. */
  clientKeys: Map<number, VerifyKey>;
  /** Token keys (32 bytes each); the first issues. */
  tokenKeys: Uint8Array[];
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new JanusError(ErrorCode.KeyInvalid, `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Loads every key the config names. A directory contributes `server-vN.key.pem`,
 * `client-vN.pub.pem` and `token.key`; explicit entries add to (and override) it.
 * @throws JanusError JANUS_ERR_KEY_INVALID naming the file.
 */
export function loadKeyRing(cfg: GatewayConfig, env: NodeJS.ProcessEnv = process.env): KeyRing {
  const serverFiles = new Map<number, string>();
  const clientFiles = new Map<number, string>();
  const tokenFiles: string[] = [];
  const dir = cfg.keys.dir;
  if (dir) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      throw new JanusError(ErrorCode.KeyInvalid, `cannot read key directory ${dir}: ${(err as NodeJS.ErrnoException).code}`);
    }
    for (const v of keyVersions(names, 'serverKey')) serverFiles.set(v, join(dir, keyFileNames(v).serverKey));
    for (const v of keyVersions(names, 'clientPub')) clientFiles.set(v, join(dir, keyFileNames(v).clientPub));
    if (names.includes(TOKEN_KEY_FILE)) tokenFiles.push(join(dir, TOKEN_KEY_FILE));
  }
  for (const [v, f] of Object.entries(cfg.keys.serverKeys)) serverFiles.set(Number(v), f);
  for (const [v, f] of Object.entries(cfg.keys.clientKeys)) clientFiles.set(Number(v), f);
  tokenFiles.push(...cfg.keys.tokenKeys.filter((f) => !tokenFiles.includes(f)));

  const ring: KeyRing = { serverKeys: new Map(), clientKeys: new Map(), tokenKeys: [] };
  const load = <T>(file: string, what: string, f: (pem: string) => T): T => {
    try {
      return f(read(file, what));
    } catch (err) {
      if (err instanceof JanusError && err.message.startsWith('cannot read')) throw err;
      throw new JanusError(ErrorCode.KeyInvalid, `${what} ${file}: ${(err as Error).message}`);
    }
  };
  for (const [v, f] of serverFiles) ring.serverKeys.set(v, load(f, 'server key', (p) => nodeCrypto.importSigningKey(p)));
  for (const [v, f] of clientFiles) ring.clientKeys.set(v, load(f, 'client public key', (p) => nodeCrypto.importVerifyKey(p)));
  if (env.JANUS_TOKEN_KEYS) {
    ring.tokenKeys = env.JANUS_TOKEN_KEYS.split(',').map((k, i) => {
      try {
        return parseTokenKey(k);
      } catch {
        throw new JanusError(ErrorCode.KeyInvalid, `JANUS_TOKEN_KEYS entry ${i} is not standard base64 of 32 bytes`);
      }
    });
  } else {
    for (const f of tokenFiles) ring.tokenKeys.push(load(f, 'token key', parseTokenKey));
  }
  // A keys.dir that is set but lacks the file is named as such: "set keys.dir" would mislead.
  const inDir = (file: string): string =>
    dir ? `key directory ${dir} holds no ${file} (write a key set there with: janus keygen --out ${dir})` : '';
  if (ring.tokenKeys.length === 0) {
    throw new JanusError(ErrorCode.KeyInvalid, inDir(TOKEN_KEY_FILE) || 'no token key: set keys.dir, keys.tokenKeys or JANUS_TOKEN_KEYS');
  }
  if (cfg.encrypted) {
    if (ring.serverKeys.size === 0) throw new JanusError(ErrorCode.KeyInvalid, inDir('server-vN.key.pem') || 'no server signing key: set keys.dir or keys.serverKeys');
    if (ring.clientKeys.size === 0) throw new JanusError(ErrorCode.KeyInvalid, inDir('client-vN.pub.pem') || 'no client public key: set keys.dir or keys.clientKeys');
  } else if (ring.serverKeys.size === 0) {
    // Plaintext mode signs nothing but still answers server_cert_version checks: version 1 is "held".
    ring.serverKeys.set(1, { kind: 'ed25519-private', handle: null });
  }
  return ring;
}
