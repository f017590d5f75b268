/**
 * Development tokens for the web demo (PROTOCOL.md 6): a player picks a name, the demo
 * gives the name a uid (the same uid for the same name, ignoring case, while the demo runs:
 * a second tab with the same name is a second login of that uid, which ends the first with
 * ServerLogout ConflictingLogin) and seals a token with status DEV for it.
 */
import { AuthToken_Status, ErrorCode, JanusError, sealToken, type CryptoBackend } from '@janus/protocol';

/** Longest name (UTF-16 code units): the demo backend's Room Join limit (docs/demo.md). */
export const MAX_NAME_LENGTH = 32;
/** The first uid handed out; below it are the terminal client's usual uids (1001, 1002, ...). */
export const FIRST_WEB_UID = 2001n;

/** A name checked and trimmed. @throws JanusError JANUS_ERR_ARG_INVALID naming the rule broken. */
export function checkName(raw: unknown): string {
  if (typeof raw !== 'string') throw new JanusError(ErrorCode.ArgInvalid, 'name must be a string');
  const name = raw.trim();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) throw new JanusError(ErrorCode.ArgInvalid, `name must be 1..${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new JanusError(ErrorCode.ArgInvalid, 'name must not contain control characters');
  return name;
}

/** An issued token. */
export interface IssuedToken {
  token: string;
  uid: bigint;
  name: string;
  /** Expiry (unix seconds). */
  expiresAt: number;
}

/** Hands out uids by name and seals tokens for them. One per demo server. */
export class DevTokenIssuer {
  private readonly uids = new Map<string, bigint>();
  private next = FIRST_WEB_UID;

  /**
   * @param tokenKey the gateway's token key (32 bytes).
   * @param ttlS token lifetime (s).
   * @param serverId the tokens' server_id.
   */
  constructor(
    private readonly crypto: CryptoBackend,
    private readonly tokenKey: Uint8Array,
    private readonly ttlS: number,
    private readonly serverId: bigint,
  ) {}

  /** The uid of `name` (given on first use). */
  uidOf(name: string): bigint {
    const key = name.toLowerCase();
    let uid = this.uids.get(key);
    if (uid === undefined) {
      uid = this.next++;
      this.uids.set(key, uid);
    }
    return uid;
  }

  /**
   * A DEV token for `rawName`.
   * @throws JanusError JANUS_ERR_ARG_INVALID for a bad name (see {@link checkName}).
   */
  async issue(rawName: unknown, nowS: number): Promise<IssuedToken> {
    const name = checkName(rawName);
    const uid = this.uidOf(name);
    const expiresAt = Math.floor(nowS) + this.ttlS;
    const token = await sealToken(this.crypto, this.tokenKey, {
      accountId: uid,
      serverId: this.serverId,
      timeout: BigInt(expiresAt),
      status: AuthToken_Status.DEV,
    });
    return { token, uid, name, expiresAt };
  }
}
