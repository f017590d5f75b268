/**
 * Loading key files named on the command line (PROTOCOL.md 5), with one-line errors that
 * name the file.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, JanusError, isJanusError, parseTokenKey } from '@janus/protocol';

/** The `code` of a node:fs error (`ENOENT`, `EACCES`, ...), or its message when it has none. */
export function fsReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads a token key file: standard base64 of 32 bytes, surrounding whitespace ignored
 * (PROTOCOL.md 5). Returns the 32 key bytes.
 * @throws JanusError JANUS_ERR_KEY_INVALID when the file cannot be read
 *   (`cannot read token key file PATH: ENOENT`) or does not hold such a key.
 */
export async function readTokenKeyFile(path: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new JanusError(ErrorCode.KeyInvalid, `cannot read token key file ${path}: ${fsReason(err)}`, { path }, { cause: err });
  }
  try {
    return parseTokenKey(text);
  } catch (err) {
    if (!isJanusError(err)) throw err;
    throw new JanusError(ErrorCode.KeyInvalid, `token key file ${path} does not hold standard base64 of 32 bytes`, { path });
  }
}
