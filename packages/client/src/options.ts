/**
 * Client options: the public shape, the defaults, and one validation pass at construction
 * (every bad key is named in a JANUS_ERR_CONFIG_INVALID message). Keys are imported here,
 * once, so a reconnect reuses them.
 */
import {
  HEARTBEAT_INTERVAL_MS,
  MIN_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  ErrorCode,
  JanusError,
  MAX_FRAME_BYTES_CEILING,
  type CryptoBackend,
  type SigningKey,
  type VerifyKey,
} from '@janus/protocol';
import type { Platform } from './platform.js';

/** Reconnect policy: `retries` attempts, exponential backoff with jitter in [minDelayMs, maxDelayMs]. */
export interface ReconnectOptions {
  /** Attempts after a drop before giving up (0 = none). */
  retries: number;
  /** Smallest delay before an attempt (ms). */
  minDelayMs: number;
  /** Largest delay before an attempt (ms); at least minDelayMs. */
  maxDelayMs: number;
}

/**
 * TLS for `wss://` (Node): passed to node:tls through the `ws` package. A gateway serves
 * `wss://` with `listen.ws.tls` or behind a TLS-terminating proxy.
 */
export interface ClientTlsOptions {
  /** Certificates to trust instead of Node's default CAs (PEM), e.g. a private CA or a self-signed certificate. */
  ca?: string | Uint8Array | (string | Uint8Array)[];
  /** Default true: refuse a certificate that does not verify. false only for development. */
  rejectUnauthorized?: boolean;
  /** Name to check the certificate against (SNI) when `host` is an address, default `host`. */
  servername?: string;
}

/** Options of {@link JanusClient.connect}. Times are milliseconds unless named otherwise. */
export interface ClientOptions {
  /** `'tcp'` (length-prefixed frames; Node only) or `'ws'` (binary messages, subprotocol `janus.v1`). PROTOCOL.md 2. */
  transport: 'tcp' | 'ws';
  /** Gateway host name or address. */
  host: string;
  /** Gateway client port (gateway defaults: 17001 TCP, 17002 WebSocket). */
  port: number;
  /** WebSocket path, default `'/ws'`. */
  path?: string;
  /** WebSocket only: `true` or (Node) TLS options = `wss://`; default false = `ws://`. A page served over https can open only `wss://`; a browser trusts what the page's browser trusts, so there only `true` applies. */
  tls?: boolean | ClientTlsOptions;
  /** Opaque token from the account service, copied unchanged into CSAuth (PROTOCOL.md 6). */
  token: string;
  /** Default true; false = plaintext mode, for a gateway configured `encrypted: false` (PROTOCOL.md 7). */
  encrypted?: boolean;
  /** Client Ed25519 private key, PKCS#8 PEM; required when encrypted (PROTOCOL.md 5). */
  clientKeyPem?: string;
  /** Client key version (CSHandshake.cert_version), default 1. */
  clientCertVersion?: number;
  /** Pinned server Ed25519 public keys (SPKI PEM) by version; required (non-empty) when encrypted. */
  serverKeys?: Record<number, string>;
  /** Server key version to pin (CSHandshake.server_cert_version), default 0 = the gateway's newest, accepted when pinned. */
  serverCertVersion?: number;
  /** Server asked for (CSHandshake.server_id), default 0n = the token's. */
  serverId?: bigint;
  /** Largest body sent or accepted (bytes), default 65536, in [256, 16 MiB]. PROTOCOL.md 2. */
  maxFrameBytes?: number;
  /**
   * Send CSHeartbeat after this long with nothing sent (ms), default 20000, at most 59999:
   * a gateway closes a client silent for its idle timeout (at least 60 s). PROTOCOL.md 8.
   */
  heartbeatIntervalMs?: number;
  /** Time a request or heartbeat waits for its reply, default 10000. */
  requestTimeoutMs?: number;
  /** Time for connect + handshake + auth, default 10000. */
  connectTimeoutMs?: number;
  /** Compress outgoing `data` of at least this many bytes (zlib), default 0 = never; never for mod 1. */
  compressThreshold?: number;
  /** Largest inflated size of received compressed data (bytes), default 1 MiB, checked while inflating. */
  maxInflateBytes?: number;
  /** Reconnect after a drop, default false (never). */
  reconnect?: false | ReconnectOptions;
  /**
   * Crypto back end. Default: node:crypto in Node; in a browser WebCrypto when it has
   * Ed25519 and X25519, else the pure-JS noble back end (see `defaultCrypto()`).
   */
  crypto?: CryptoBackend;
  /** Clock in unix seconds, default `Date.now() / 1000`. */
  now?: () => number;
}

/** Validated options with defaults applied and keys imported. Immutable. */
export interface ResolvedOptions {
  readonly transport: 'tcp' | 'ws';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** null: plain `ws://` (or TCP). */
  readonly tls: Readonly<ClientTlsOptions> | null;
  readonly token: string;
  readonly encrypted: boolean;
  /** null in plaintext mode. */
  readonly clientKey: SigningKey | null;
  readonly clientCertVersion: number;
  /** Empty in plaintext mode. */
  readonly serverKeys: ReadonlyMap<number, VerifyKey>;
  readonly serverCertVersion: number;
  readonly serverId: bigint;
  readonly maxFrameBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly compressThreshold: number;
  readonly maxInflateBytes: number;
  readonly reconnect: Readonly<ReconnectOptions> | null;
  readonly crypto: CryptoBackend;
  readonly now: () => number;
  /** The entry's platform adapter (transports, compression, tracing). */
  readonly platform: Platform;
}

/** Defaults of the optional options. */
export const CLIENT_DEFAULTS = Object.freeze({
  path: '/ws',
  tls: false,
  encrypted: true,
  clientCertVersion: 1,
  serverCertVersion: 0,
  serverId: 0n,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  compressThreshold: 0,
  maxInflateBytes: 1024 * 1024,
});

const KNOWN_KEYS = new Set([
  'transport',
  'host',
  'port',
  'path',
  'tls',
  'token',
  'encrypted',
  'clientKeyPem',
  'clientCertVersion',
  'serverKeys',
  'serverCertVersion',
  'serverId',
  'maxFrameBytes',
  'heartbeatIntervalMs',
  'requestTimeoutMs',
  'connectTimeoutMs',
  'compressThreshold',
  'maxInflateBytes',
  'reconnect',
  'crypto',
  'now',
]);

const INT32_MAX = 0x7fffffff;
/** Smallest maxFrameBytes: room for a CSHandshake (about 130 bytes) and a small record. */
export const MIN_FRAME_BYTES = 256;
/** Largest delay setTimeout honours (ms). */
const TIMER_MAX = INT32_MAX;

function bad(key: string, why: string): JanusError {
  return new JanusError(ErrorCode.ConfigInvalid, `client option ${key}: ${why}`, { key });
}

function int(key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(key, `must be an integer in [${min}, ${max}]`);
  return v;
}

function text(key: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw bad(key, 'must be a non-empty string');
  return v;
}

function reconnectOptions(v: unknown): ReconnectOptions | null {
  if (v === undefined || v === false) return null;
  if (typeof v !== 'object' || v === null) throw bad('reconnect', 'must be false or { retries, minDelayMs, maxDelayMs }');
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['retries', 'minDelayMs', 'maxDelayMs'].includes(k)) throw bad(`reconnect.${k}`, 'unknown option');
  const retries = int('reconnect.retries', r.retries, 0, INT32_MAX);
  const minDelayMs = int('reconnect.minDelayMs', r.minDelayMs, 0, TIMER_MAX);
  const maxDelayMs = int('reconnect.maxDelayMs', r.maxDelayMs, minDelayMs, TIMER_MAX);
  return Object.freeze({ retries, minDelayMs, maxDelayMs });
}

function tlsOptions(v: unknown, transport: 'tcp' | 'ws', platform: Platform): ClientTlsOptions | null {
  if (v === undefined || v === false) return null;
  if (transport !== 'ws') throw bad('tls', "applies to transport 'ws' only (the gateway's TCP listener is not TLS)");
  if (v === true) return Object.freeze({});
  if (typeof v !== 'object' || v === null) throw bad('tls', 'must be a boolean or { ca?, rejectUnauthorized?, servername? }');
  if (platform.name !== 'node') throw bad('tls', `TLS options apply in Node only; in ${platform.name} use tls: true (the browser's own trust store decides)`);
  const r = v as Record<string, unknown>;
  const out: ClientTlsOptions = {};
  for (const k of Object.keys(r)) if (!['ca', 'rejectUnauthorized', 'servername'].includes(k)) throw bad(`tls.${k}`, 'unknown option');
  if (r.ca !== undefined) {
    const pem = (x: unknown): boolean => (typeof x === 'string' && x !== '') || x instanceof Uint8Array;
    if (!(pem(r.ca) || (Array.isArray(r.ca) && r.ca.length > 0 && r.ca.every(pem)))) throw bad('tls.ca', 'must be PEM text or bytes, or a non-empty list of them');
    out.ca = r.ca as ClientTlsOptions['ca'];
  }
  if (r.rejectUnauthorized !== undefined) {
    if (typeof r.rejectUnauthorized !== 'boolean') throw bad('tls.rejectUnauthorized', 'must be a boolean');
    out.rejectUnauthorized = r.rejectUnauthorized;
  }
  if (r.servername !== undefined) out.servername = text('tls.servername', r.servername);
  return Object.freeze(out);
}

/**
 * Validates options, applies the defaults and imports the keys.
 * @param platform the entry's platform: which transports exist, the default crypto back end.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming the bad key (unknown keys included, a
 *   transport the platform lacks); JANUS_ERR_KEY_INVALID when a PEM does not load.
 */
export async function resolveOptions(o: ClientOptions, platform: Platform): Promise<ResolvedOptions> {
  if (typeof o !== 'object' || o === null) throw bad('(options)', 'must be an object');
  for (const k of Object.keys(o)) if (!KNOWN_KEYS.has(k)) throw bad(k, 'unknown option');
  if (o.transport !== 'tcp' && o.transport !== 'ws') throw bad('transport', "must be 'tcp' or 'ws'");
  if (!platform.transports.includes(o.transport)) {
    throw bad('transport', `'${o.transport}' is not available in ${platform.name} (use ${platform.transports.map((t) => `'${t}'`).join(' or ')})`);
  }
  const path = o.path ?? CLIENT_DEFAULTS.path;
  if (typeof path !== 'string' || !path.startsWith('/')) throw bad('path', "must start with '/'");
  const tls = tlsOptions(o.tls, o.transport, platform);
  const encrypted = o.encrypted ?? CLIENT_DEFAULTS.encrypted;
  if (typeof encrypted !== 'boolean') throw bad('encrypted', 'must be a boolean');
  const serverId = o.serverId ?? CLIENT_DEFAULTS.serverId;
  if (typeof serverId !== 'bigint' || serverId < -(2n ** 63n) || serverId >= 2n ** 63n) throw bad('serverId', 'must be an int64 bigint');
  const crypto = o.crypto ?? (await platform.defaultCrypto());
  if (typeof crypto !== 'object' || crypto === null || typeof crypto.ed25519Sign !== 'function') throw bad('crypto', 'must be a CryptoBackend');
  const now = o.now ?? (() => Date.now() / 1000);
  if (typeof now !== 'function') throw bad('now', 'must be a function returning unix seconds');
  const clientCertVersion = int('clientCertVersion', o.clientCertVersion ?? CLIENT_DEFAULTS.clientCertVersion, 0, INT32_MAX);
  const serverCertVersion = int('serverCertVersion', o.serverCertVersion ?? CLIENT_DEFAULTS.serverCertVersion, 0, INT32_MAX);

  let clientKey: SigningKey | null = null;
  const serverKeys = new Map<number, VerifyKey>();
  if (encrypted) {
    clientKey = await crypto.importSigningKey(text('clientKeyPem', o.clientKeyPem));
    if (typeof o.serverKeys !== 'object' || o.serverKeys === null) throw bad('serverKeys', 'must map key versions to PEM public keys');
    for (const [version, pem] of Object.entries(o.serverKeys)) {
      const v = int(`serverKeys.${version}`, Number(version), 0, INT32_MAX);
      serverKeys.set(v, await crypto.importVerifyKey(text(`serverKeys.${version}`, pem)));
    }
    if (serverKeys.size === 0) throw bad('serverKeys', 'must pin at least one server key when encrypted');
    if (serverCertVersion !== 0 && !serverKeys.has(serverCertVersion)) throw bad('serverCertVersion', `version ${serverCertVersion} is not in serverKeys`);
  }

  return Object.freeze({
    transport: o.transport,
    host: text('host', o.host),
    port: int('port', o.port, 1, 65535),
    path,
    tls,
    token: text('token', o.token),
    encrypted,
    clientKey,
    clientCertVersion,
    serverKeys,
    serverCertVersion,
    serverId,
    maxFrameBytes: int('maxFrameBytes', o.maxFrameBytes ?? CLIENT_DEFAULTS.maxFrameBytes, MIN_FRAME_BYTES, MAX_FRAME_BYTES_CEILING),
    heartbeatIntervalMs: int('heartbeatIntervalMs', o.heartbeatIntervalMs ?? CLIENT_DEFAULTS.heartbeatIntervalMs, 1, MIN_IDLE_TIMEOUT_MS - 1),
    requestTimeoutMs: int('requestTimeoutMs', o.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs, 1, TIMER_MAX),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs, 1, TIMER_MAX),
    compressThreshold: int('compressThreshold', o.compressThreshold ?? CLIENT_DEFAULTS.compressThreshold, 0, INT32_MAX),
    maxInflateBytes: int('maxInflateBytes', o.maxInflateBytes ?? CLIENT_DEFAULTS.maxInflateBytes, 1, 2 ** 31),
    reconnect: reconnectOptions(o.reconnect),
    crypto,
    now,
    platform,
  });
}
