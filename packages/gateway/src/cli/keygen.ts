/**
 * `janus keygen`: writes a key directory (PROTOCOL.md 5): one Ed25519 server pair and one
 * Ed25519 client pair per key version, and the token key once per directory.
 *
 * Layout of DIR for version N (names from {@link keyFileNames}):
 *   server-vN.key.pem  server private key, PKCS#8 `PRIVATE KEY` PEM, mode 0600
 *   server-vN.pub.pem  server public key, SPKI `PUBLIC KEY` PEM (clients pin it)
 *   client-vN.key.pem  client private key, mode 0600 (ships inside clients)
 *   client-vN.pub.pem  client public key (the gateway verifies with it)
 *   token.key          standard base64 of 32 random bytes and a newline, mode 0600
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ErrorCode, JanusError } from '@janus/protocol';
import { parseIntArg } from './args.js';
import { fsReason } from './keyfiles.js';
import { writeOut } from './output.js';
import { keyFileNames, MAX_KEY_VERSION } from '../key-dir.js';

export { keyFileNames, MAX_KEY_VERSION, type KeyDirFiles } from '../key-dir.js';

const PRIVATE_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const DIR_MODE = 0o700;

/** Options of {@link keygen}. */
export interface KeygenOptions {
  /** The key directory; created (mode 0700) when missing. */
  outDir: string;
  /** Key version N of the pairs to write; default 1. */
  version?: number;
  /** Replace existing pair files of this version; default false. Never replaces token.key. */
  force?: boolean;
}

interface Target {
  path: string;
  data: string;
  mode: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (fsReason(err) === 'ENOENT') return false;
    throw new JanusError(ErrorCode.ArgInvalid, `cannot inspect ${path}: ${fsReason(err)}`, { path }, { cause: err });
  }
}

function ed25519Pem(): { key: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { key: privateKey, pub: publicKey };
}

/**
 * Writes the key files of one version into `opts.outDir` (layout in this module's header)
 * and returns the paths written, in layout order. token.key is written only when the
 * directory has none, so later versions share the first token key.
 *
 * Every target is checked before anything is written: when a pair file of this version
 * already exists and `force` is not set, nothing is written. Files are created with their
 * final mode (0600 private, 0644 public, less the umask); with `force` an existing file is
 * removed first so the new one gets that mode too.
 * @throws JanusError JANUS_ERR_ARG_INVALID on a bad version, an `outDir` that is not a
 *   directory, a refusal to overwrite, or a file-system error (the message names the path).
 */
export async function keygen(opts: KeygenOptions): Promise<{ written: string[] }> {
  const version = opts.version ?? 1;
  const names = keyFileNames(version);
  const dir = opts.outDir;
  if (dir === '') throw new JanusError(ErrorCode.ArgInvalid, 'key directory must not be empty');

  let dirExists = false;
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new JanusError(ErrorCode.ArgInvalid, `${dir} exists and is not a directory`, { path: dir });
    dirExists = true;
  } catch (err) {
    if (err instanceof JanusError) throw err;
    if (fsReason(err) !== 'ENOENT') {
      throw new JanusError(ErrorCode.ArgInvalid, `cannot inspect ${dir}: ${fsReason(err)}`, { path: dir }, { cause: err });
    }
  }

  const pairPaths = [names.serverKey, names.serverPub, names.clientKey, names.clientPub].map((n) => join(dir, n));
  const tokenPath = join(dir, names.tokenKey);
  const present = dirExists ? await Promise.all(pairPaths.map(exists)) : pairPaths.map(() => false);
  const writeToken = !(dirExists && (await exists(tokenPath)));
  const clashing = pairPaths.filter((_, i) => present[i]);
  if (clashing.length > 0 && opts.force !== true) {
    throw new JanusError(
      ErrorCode.ArgInvalid,
      `refusing to overwrite ${clashing.join(', ')} (use --force to replace key version ${version})`,
      { paths: clashing },
    );
  }

  const server = ed25519Pem();
  const client = ed25519Pem();
  const targets: Target[] = [
    { path: pairPaths[0]!, data: server.key, mode: PRIVATE_MODE },
    { path: pairPaths[1]!, data: server.pub, mode: PUBLIC_MODE },
    { path: pairPaths[2]!, data: client.key, mode: PRIVATE_MODE },
    { path: pairPaths[3]!, data: client.pub, mode: PUBLIC_MODE },
  ];
  if (writeToken) targets.push({ path: tokenPath, data: `${randomBytes(32).toString('base64')}\n`, mode: PRIVATE_MODE });

  const written: string[] = [];
  try {
    if (!dirExists) await mkdir(dir, { recursive: true, mode: DIR_MODE });
    for (const t of targets) {
      // Why remove rather than truncate: open() applies `mode` only when it creates the
      // file, so an overwritten 0644 file would keep 0644. 'wx' also refuses a file that
      // appeared after the checks above instead of clobbering it.
      if (opts.force === true) await rm(t.path, { force: true });
      await writeFile(t.path, t.data, { flag: 'wx', mode: t.mode });
      written.push(t.path);
    }
  } catch (err) {
    const at = targets[written.length]?.path ?? dir;
    throw new JanusError(ErrorCode.ArgInvalid, `cannot write ${at}: ${fsReason(err)}`, { path: at, written }, { cause: err });
  }
  return { written };
}

/** Adds `janus keygen --out DIR [--version N] [--force]` to `program`. */
export function register(program: Command): void {
  program
    .command('keygen')
    .summary('write server and client Ed25519 key pairs and a token key')
    .description(
      'Write the key files of one key version N into DIR, creating DIR (mode 0700) if missing. ' +
        'Private files are created with mode 0600. Nothing is written when a key file of this ' +
        'version already exists, unless --force; token.key is written only when DIR has none ' +
        '(later versions share it) and is never replaced. Prints the paths written.',
    )
    .addHelpText(
      'after',
      '\nFiles written for version N:\n' +
        '  server-vN.key.pem  server Ed25519 private key, PKCS#8 PEM (mode 0600)\n' +
        '  server-vN.pub.pem  server Ed25519 public key, SPKI PEM (pinned by clients)\n' +
        '  client-vN.key.pem  client Ed25519 private key, PKCS#8 PEM (mode 0600)\n' +
        '  client-vN.pub.pem  client Ed25519 public key, SPKI PEM (accepted by the gateway)\n' +
        '  token.key          32 random bytes, standard base64, one line (mode 0600)\n',
    )
    .requiredOption('--out <dir>', 'key directory to write into (required)')
    .option('--version <n>', 'key version N, an integer from 1 to 2147483647 (default: 1)')
    .option('--force', 'replace existing key files of this version (default: refuse)')
    .action(async (opts: { out: string; version?: string; force?: boolean }, cmd: Command) => {
      const version =
        opts.version === undefined
          ? 1
          : parseIntArg(opts.version, { flag: '--version', min: 1, max: MAX_KEY_VERSION, what: `an integer from 1 to ${MAX_KEY_VERSION}` });
      const { written } = await keygen({ outDir: opts.out, version, force: opts.force === true });
      writeOut(cmd, written.map((p) => `wrote ${p}\n`).join(''));
    });
}
