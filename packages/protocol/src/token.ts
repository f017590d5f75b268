/**
 * Auth tokens, PROTOCOL.md section 6:
 * `token = base64url-nopad(nonce(12) || AES-256-GCM(tokenKey, nonce, aad="janus/v1 token", AuthToken bytes))`.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { CryptoBackend } from './crypto/backend.js';
import { concatBytes, utf8 } from './bytes.js';
import { ErrorCode, JanusError } from './errors.js';
import { AuthTokenSchema, AuthToken_Status } from './gen/janus/v1/token_pb.js';

/** The AAD of every token. */
export const TOKEN_AAD = utf8('janus/v1 token');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The fields of an AuthToken (PROTOCOL.md 6); int64 fields are bigint. */
export interface TokenFields {
  rand: string;
  color: string;
  /** The session's uid; must be > 0. */
  accountId: bigint;
  /** The session's sid. */
  serverId: bigint;
  /** Expiry, unix seconds. */
  timeout: bigint;
  location: number;
  /** 0 UNSPECIFIED, 1 GATE, 2 DEV, 3 ADMIN, 4 SVC. */
  status: AuthToken_Status;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64URL_VALUE[B64URL.charCodeAt(i)] = i;

/** base64url without padding (RFC 4648 section 5). */
export function base64UrlEncode(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64URL[v >>> 18]! + B64URL[(v >>> 12) & 63]! + B64URL[(v >>> 6) & 63]! + B64URL[v & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const v = b[i]! << 16;
    s += B64URL[v >>> 18]! + B64URL[(v >>> 12) & 63]!;
  } else if (rest === 2) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64URL[v >>> 18]! + B64URL[(v >>> 12) & 63]! + B64URL[(v >>> 6) & 63]!;
  }
  return s;
}

/**
 * Strict base64url decoding (PROTOCOL.md 6): exactly `A-Z a-z 0-9 - _`, optionally
 * followed by the `=` padding that completes the last group of four, nothing else. Unused
 * bits in the last character are ignored.
 * @throws JanusError JANUS_ERR_TOKEN_MALFORMED.
 */
export function base64UrlDecodeStrict(s: string): Uint8Array {
  let len = s.length;
  let pad = 0;
  while (len > 0 && s.charCodeAt(len - 1) === 0x3d /* = */) {
    len--;
    pad++;
  }
  const rem = len % 4;
  if (rem === 1) throw new JanusError(ErrorCode.TokenMalformed, 'token is not base64url: bad length');
  if (pad !== 0 && (rem === 0 || pad !== 4 - rem)) {
    throw new JanusError(ErrorCode.TokenMalformed, 'token is not base64url: bad padding');
  }
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64URL_VALUE[c]! : -1;
    if (v < 0) throw new JanusError(ErrorCode.TokenMalformed, 'token is not base64url: bad character');
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  return out;
}

/**
 * Seals a token under `tokenKey` (32 bytes).
 * @param nonce 12 bytes; random when omitted (tests pass the vector's).
 * @throws JanusError JANUS_ERR_KEY_INVALID when `tokenKey` is not 32 bytes.
 */
export async function sealToken(
  crypto: CryptoBackend,
  tokenKey: Uint8Array,
  fields: Partial<TokenFields>,
  nonce: Uint8Array = crypto.randomBytes(NONCE_BYTES),
): Promise<string> {
  const plain = toBinary(
    AuthTokenSchema,
    create(AuthTokenSchema, {
      rand: fields.rand ?? '',
      color: fields.color ?? '',
      accountId: fields.accountId ?? 0n,
      serverId: fields.serverId ?? 0n,
      timeout: fields.timeout ?? 0n,
      location: fields.location ?? 0,
      status: fields.status ?? AuthToken_Status.UNSPECIFIED,
    }),
  );
  const aead = await crypto.aeadKey(tokenKey);
  const sealed = await aead.seal(nonce, TOKEN_AAD, plain);
  return base64UrlEncode(concatBytes(nonce, sealed));
}

/**
 * Opens a token under the first of `tokenKeys` that authenticates it and checks it
 * (PROTOCOL.md 6).
 * @param now unix seconds.
 * @throws JanusError JANUS_ERR_TOKEN_MALFORMED (does not decode or authenticate: Unauthorized),
 *   JANUS_ERR_TOKEN_INVALID (account_id <= 0: Unauthorized),
 *   JANUS_ERR_TOKEN_EXPIRED (timeout <= now: TokenExpired).
 */
export async function openToken(
  crypto: CryptoBackend,
  tokenKeys: readonly Uint8Array[],
  token: string,
  now: number,
): Promise<TokenFields> {
  const raw = base64UrlDecodeStrict(token);
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new JanusError(ErrorCode.TokenMalformed, 'token too short');
  const nonce = raw.subarray(0, NONCE_BYTES);
  const sealed = raw.subarray(NONCE_BYTES);
  let plain: Uint8Array | undefined;
  for (const key of tokenKeys) {
    try {
      plain = await (await crypto.aeadKey(key)).open(nonce, TOKEN_AAD, sealed);
      break;
    } catch {
      // try the next key
    }
  }
  if (!plain) throw new JanusError(ErrorCode.TokenMalformed, 'token does not authenticate under any token key');
  let t;
  try {
    t = fromBinary(AuthTokenSchema, plain);
  } catch {
    throw new JanusError(ErrorCode.TokenMalformed, 'token plaintext is not an AuthToken');
  }
  const fields: TokenFields = {
    rand: t.rand,
    color: t.color,
    accountId: t.accountId,
    serverId: t.serverId,
    timeout: t.timeout,
    location: t.location,
    status: t.status,
  };
  if (fields.accountId <= 0n) throw new JanusError(ErrorCode.TokenInvalid, 'token account_id <= 0');
  if (fields.timeout <= BigInt(Math.floor(now))) {
    throw new JanusError(ErrorCode.TokenExpired, `token expired at ${fields.timeout}`, { timeout: fields.timeout.toString() });
  }
  return fields;
}

/** Reads a token key file's text (standard base64 of 32 bytes). @throws JanusError JANUS_ERR_KEY_INVALID. */
export function parseTokenKey(text: string): Uint8Array {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) throw new JanusError(ErrorCode.KeyInvalid, 'token key is not standard base64 of 32 bytes');
  const bin = atob(t);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = bin.charCodeAt(i);
  return out;
}
