/**
 * Issuing and inspecting auth tokens (PROTOCOL.md 6) for the `janus token` commands and
 * for tools (the demo stack) that need a token for a test user. Uses the node:crypto
 * back end.
 */
import {
  AuthToken_Status,
  ErrorCode,
  JanusError,
  base64UrlDecodeStrict,
  isJanusError,
  openToken,
  sealToken,
  toHex,
  type TokenFields,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { INT64_MAX } from './args.js';

/** Default token lifetime, seconds (24 h). */
export const DEFAULT_TOKEN_TTL_SECONDS = 86400;

/** Status names accepted by `--status`, lower case, with their AuthToken.Status values. */
export const TOKEN_STATUS_NAMES = {
  gate: AuthToken_Status.GATE,
  dev: AuthToken_Status.DEV,
  admin: AuthToken_Status.ADMIN,
  svc: AuthToken_Status.SVC,
} as const;

/** Options of {@link issueToken}. */
export interface IssueTokenOptions {
  /** The 32-byte token key that seals. */
  tokenKey: Uint8Array;
  /** account_id, the session's uid: 1 to 2^63 - 1. */
  uid: bigint;
  /** The session's color; default "" (a color like any other). */
  color?: string;
  /** server_id, the session's sid; default 0n. */
  serverId?: bigint;
  /** Lifetime in seconds from `now` (negative makes an already expired token); default 86400. */
  ttlSeconds?: number;
  /** Default GATE (1). */
  status?: AuthToken_Status;
  /** int32; default 0. */
  location?: number;
  /** Unix seconds; default the current time. */
  now?: number;
}

/** The current time in whole unix seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Seals a token: `rand` is 8 random bytes as hex, `timeout` is `now + ttlSeconds`.
 * @returns the token (base64url, no padding) and the fields it holds.
 * @throws JanusError JANUS_ERR_ARG_INVALID when `uid` is not in [1, 2^63 - 1], `serverId`
 *   not in [0, 2^63 - 1], `location` not an int32, or the timeout not an int64.
 */
export async function issueToken(opts: IssueTokenOptions): Promise<{ token: string; fields: TokenFields }> {
  if (opts.uid <= 0n || opts.uid > INT64_MAX) {
    throw new JanusError(ErrorCode.ArgInvalid, `uid must be from 1 to ${INT64_MAX}, got ${opts.uid}`);
  }
  const serverId = opts.serverId ?? 0n;
  if (serverId < 0n || serverId > INT64_MAX) {
    throw new JanusError(ErrorCode.ArgInvalid, `server id must be from 0 to ${INT64_MAX}, got ${serverId}`);
  }
  const location = opts.location ?? 0;
  if (!Number.isInteger(location) || location < -(2 ** 31) || location > 2 ** 31 - 1) {
    throw new JanusError(ErrorCode.ArgInvalid, `location must be an int32, got ${location}`);
  }
  const ttl = opts.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const now = opts.now ?? unixNow();
  if (!Number.isSafeInteger(ttl) || !Number.isSafeInteger(now)) {
    throw new JanusError(ErrorCode.ArgInvalid, `ttl and now must be whole seconds, got ttl ${ttl}, now ${now}`);
  }
  const fields: TokenFields = {
    rand: toHex(nodeCrypto.randomBytes(8)),
    color: opts.color ?? '',
    accountId: opts.uid,
    serverId,
    timeout: BigInt(now) + BigInt(ttl),
    location,
    status: opts.status ?? AuthToken_Status.GATE,
  };
  const token = await sealToken(nodeCrypto, opts.tokenKey, fields);
  return { token, fields };
}

/** What {@link inspectToken} found in a token that authenticates. */
export interface TokenReport {
  fields: TokenFields;
  /** Index in `tokenKeys` of the key that opened it. */
  keyIndex: number;
  /** True when `timeout <= now` (the gateway answers TokenExpired). */
  expired: boolean;
  /** `timeout - now`, seconds; zero or negative when expired. */
  secondsLeft: bigint;
}

const NONCE_AND_TAG_BYTES = 12 + 16;

/**
 * Opens `token` with each of `tokenKeys` in turn (PROTOCOL.md 5 rotation) and reports its
 * fields, including when it has expired (which the gateway would refuse).
 * @param now unix seconds.
 * @throws JanusError JANUS_ERR_TOKEN_MALFORMED (not strict base64url, too short, or no key
 *   authenticates it), JANUS_ERR_TOKEN_INVALID (account_id <= 0), JANUS_ERR_TOKEN_EXPIRED
 *   (only for a timeout before 1 Jan -285 million; later expiries are reported, not thrown).
 */
export async function inspectToken(tokenKeys: readonly Uint8Array[], token: string, now: number): Promise<TokenReport> {
  let raw: Uint8Array;
  try {
    raw = base64UrlDecodeStrict(token);
  } catch (err) {
    if (!isJanusError(err)) throw err;
    throw new JanusError(ErrorCode.TokenMalformed, `token does not decode: ${err.message.replace(/^token is /, '')}`);
  }
  if (raw.length < NONCE_AND_TAG_BYTES) {
    throw new JanusError(ErrorCode.TokenMalformed, `token does not decode: ${raw.length} bytes, at least ${NONCE_AND_TAG_BYTES} needed`);
  }
  for (let i = 0; i < tokenKeys.length; i++) {
    let fields: TokenFields;
    try {
      // Why the earliest possible "now": openToken throws on expiry without the fields,
      // and inspect shows an expired token's fields. Expiry is judged below instead.
      fields = await openToken(nodeCrypto, [tokenKeys[i]!], token, Number.MIN_SAFE_INTEGER);
    } catch (err) {
      // The token decodes (checked above), so Malformed here means this key does not
      // authenticate it: try the next key.
      if (isJanusError(err, ErrorCode.TokenMalformed)) continue;
      if (isJanusError(err, ErrorCode.TokenInvalid)) {
        throw new JanusError(ErrorCode.TokenInvalid, 'token authenticates but its account_id is <= 0', { keyIndex: i });
      }
      throw err;
    }
    const secondsLeft = fields.timeout - BigInt(Math.floor(now));
    return { fields, keyIndex: i, expired: secondsLeft <= 0n, secondsLeft };
  }
  const keys = tokenKeys.length === 1 ? 'the token key' : `any of the ${tokenKeys.length} token keys`;
  throw new JanusError(ErrorCode.TokenMalformed, `token does not authenticate under ${keys} (wrong key, or the token was altered)`);
}

/** `GATE (1)`; `unknown (9)` for a value outside AuthToken.Status. */
export function statusLabel(status: number): string {
  const name = (AuthToken_Status as unknown as Record<number, string | undefined>)[status];
  return `${name ?? 'unknown'} (${status})`;
}

/** A unix-seconds time as an ISO 8601 UTC date, or `out of date range`. */
export function isoDate(unixSeconds: bigint): string {
  // Date covers +-8.64e15 ms, i.e. +-8.64e12 s.
  if (unixSeconds > 8_640_000_000_000n || unixSeconds < -8_640_000_000_000n) return 'out of date range';
  return new Date(Number(unixSeconds) * 1000).toISOString();
}

/**
 * Human-readable lines for a token's fields, labels aligned:
 * uid (account_id), server_id, color (JSON-quoted), status, location, rand, timeout
 * (unix seconds and ISO date), seconds left at `now` (unix seconds), then `extra` rows.
 */
export function formatTokenFields(fields: TokenFields, now: number, extra: readonly [string, string][] = []): string[] {
  const left = fields.timeout - BigInt(Math.floor(now));
  const rows: [string, string][] = [
    ['account_id (uid)', fields.accountId.toString()],
    ['server_id (sid)', fields.serverId.toString()],
    ['color', JSON.stringify(fields.color)],
    ['status', statusLabel(fields.status)],
    ['location', String(fields.location)],
    ['rand', JSON.stringify(fields.rand)],
    ['timeout', `${fields.timeout} (${isoDate(fields.timeout)})`],
    ['seconds left', left > 0n ? `${left}` : `${left} (expired ${-left} s ago)`],
    ...extra,
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`);
}
