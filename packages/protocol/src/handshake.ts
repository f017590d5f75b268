/**
 * The handshake, PROTOCOL.md 7.1-7.4: builders and verifiers for both sides, written once
 * for both crypto back ends (asynchronous: one handshake per connection, not per message).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { concatBytes, i32be, i64be, isAllZero, utf8 } from './bytes.js';
import type { CryptoBackend, SigningKey, VerifyKey, X25519KeyPair } from './crypto/backend.js';
import { ErrorCode, JanusError } from './errors.js';
import { deriveSessionKeys, type SessionKeys } from './keys.js';
import { decodeMessage, isServerLogout, MOD_SYSTEM, serverLogoutError } from './messages.js';
import { decodePacket, encodePacket, makePacket } from './packet.js';
import {
  CSHandshakeSchema,
  SCHandshakeSchema,
  SCServerLogout_Code,
  SystemSeq,
  type CSHandshake,
  type SCHandshake,
} from './gen/janus/v1/system_pb.js';

/** The protocol version this implementation speaks. */
export const PROTOCOL_VERSION = 1;
/** The largest start_index (inclusive); the smallest is 1. PROTOCOL.md 7.3. */
export const MAX_START_INDEX = 2 ** 30;

const CLIENT_LABEL = utf8('janus/v1 client handshake');
const SERVER_LABEL = utf8('janus/v1 server handshake');
const ZERO = new Uint8Array([0]);

/** `"janus/v1 client handshake" || 0x00 || pub || i64be(timestamp) || i64be(server_id)` (PROTOCOL.md 7.1). */
export function clientSignatureInput(pub: Uint8Array, timestamp: bigint, serverId: bigint): Uint8Array {
  return concatBytes(CLIENT_LABEL, ZERO, pub, i64be(timestamp), i64be(serverId));
}

/**
 * `"janus/v1 server handshake" || 0x00 || SHA-256(cs_body) || server_pub || i64be(timestamp)
 * || i32be(cert_version) || i32be(start_index) || i32be(version)` (PROTOCOL.md 7.3).
 */
export function serverSignatureInput(
  csBodyHash: Uint8Array,
  serverPub: Uint8Array,
  timestamp: bigint,
  certVersion: number,
  startIndex: number,
  version: number,
): Uint8Array {
  return concatBytes(SERVER_LABEL, ZERO, csBodyHash, serverPub, i64be(timestamp), i32be(certVersion), i32be(startIndex), i32be(version));
}

/**
 * `X25519(private, peer pub)`, refusing an all-zero result (PROTOCOL.md 7.3, 7.4).
 * Why the catch: OpenSSL (node:crypto) and WebCrypto already refuse to output an all-zero
 * secret and fail the derivation with an untyped error instead; a peer pub of 32 bytes
 * (checked before this) can only fail that way, so it maps to the same typed error.
 * @throws JanusError JANUS_ERR_HANDSHAKE_ZERO_SHARED.
 */
async function sharedSecret(crypto: CryptoBackend, privateKey: unknown, peerPub: Uint8Array): Promise<Uint8Array> {
  let shared: Uint8Array;
  try {
    shared = await crypto.x25519(privateKey, peerPub);
  } catch (err) {
    throw new JanusError(ErrorCode.HandshakeZeroShared, 'X25519 failed: a low-order public key (all-zero shared secret)', {}, { cause: err });
  }
  if (isAllZero(shared)) throw new JanusError(ErrorCode.HandshakeZeroShared, 'X25519 shared secret is all zero');
  return shared;
}

// ---------------------------------------------------------------------------------------
// Client side

/** What a client needs to open a session. */
export interface ClientHelloOptions {
  crypto: CryptoBackend;
  /** The client signing key; null in plaintext mode (`encrypted: false`). */
  clientKey: SigningKey | null;
  /** The client key version (CSHandshake.cert_version). */
  certVersion: number;
  /** The server the player asks for; 0n = the token's. */
  serverId: bigint;
  /** The server key version the client pins; 0 = the gateway's newest. */
  serverCertVersion: number;
  /** Unix seconds. */
  timestamp: bigint;
  /** A fixed X25519 pair (tests); fresh when omitted. */
  ephemeral?: X25519KeyPair;
}

/** A sent CSHandshake: `body` is the exact frame body (cs_body). */
export interface ClientHello {
  body: Uint8Array;
  ephemeral: X25519KeyPair | null;
  serverCertVersion: number;
}

/** Builds `Packet{mod=1, seq=1, data=CSHandshake}` (PROTOCOL.md 7.1). */
export async function createClientHello(o: ClientHelloOptions): Promise<ClientHello> {
  let ephemeral: X25519KeyPair | null = null;
  let pub: Uint8Array = new Uint8Array(0);
  let sign: Uint8Array = new Uint8Array(0);
  if (o.clientKey) {
    ephemeral = o.ephemeral ?? (await o.crypto.x25519Generate());
    pub = ephemeral.publicKey;
    sign = await o.crypto.ed25519Sign(o.clientKey, clientSignatureInput(pub, o.timestamp, o.serverId));
  }
  const hs = create(CSHandshakeSchema, {
    pub,
    sign,
    serverId: o.serverId,
    timestamp: o.timestamp,
    certVersion: o.certVersion,
    serverCertVersion: o.serverCertVersion,
    version: PROTOCOL_VERSION,
  });
  const body = encodePacket(makePacket({ mod: MOD_SYSTEM, seq: SystemSeq.HANDSHAKE, data: toBinary(CSHandshakeSchema, hs) }));
  return { body, ephemeral, serverCertVersion: o.serverCertVersion };
}

/** The outcome of a completed handshake on either side. */
export interface HandshakeResult {
  /** Session keys; null in plaintext mode. */
  keys: SessionKeys | null;
  startIndex: number;
  version: number;
  /** The server key version that signed (client side) or signs (server side). */
  certVersion: number;
  /** The peer's timestamp (unix seconds). */
  peerTimestamp: bigint;
}

/**
 * Checks the gateway's answer to a ClientHello (PROTOCOL.md 7.4).
 * @param pinned server key versions the client pins.
 * @throws JanusError JANUS_ERR_LOGOUT (`details.logoutCode`, `details.serverTime`) when the gateway answered with a
 *   ServerLogout; JANUS_ERR_PACKET_MALFORMED when it is not a System handshake Packet;
 *   JANUS_ERR_HANDSHAKE_INVALID when a check fails; JANUS_ERR_HANDSHAKE_ZERO_SHARED.
 */
export async function acceptServerHello(
  crypto: CryptoBackend,
  hello: ClientHello,
  scBody: Uint8Array,
  pinned: ReadonlyMap<number, VerifyKey>,
): Promise<HandshakeResult> {
  const p = decodePacket(scBody);
  if (isServerLogout(p)) throw serverLogoutError(p, 'instead of SCHandshake');
  if (p.mod !== MOD_SYSTEM || p.seq !== SystemSeq.HANDSHAKE) {
    throw new JanusError(ErrorCode.HandshakeInvalid, `expected SCHandshake, got mod ${p.mod} seq ${p.seq}`);
  }
  const sc: SCHandshake = decodeMessage(SCHandshakeSchema, p.data);
  const version = sc.version === 0 ? PROTOCOL_VERSION : sc.version;
  if (version !== PROTOCOL_VERSION) throw new JanusError(ErrorCode.HandshakeInvalid, `gateway chose version ${version}`);
  if (sc.startIndex < 1 || sc.startIndex > MAX_START_INDEX) {
    throw new JanusError(ErrorCode.HandshakeInvalid, `start_index ${sc.startIndex} out of [1, 2^30]`);
  }
  const result: HandshakeResult = { keys: null, startIndex: sc.startIndex, version, certVersion: sc.certVersion, peerTimestamp: sc.timestamp };
  if (!hello.ephemeral) return result; // plaintext mode: pub, sign and cert_version are not checked
  if (sc.pub.length !== 32 || sc.sign.length !== 64) throw new JanusError(ErrorCode.HandshakeInvalid, 'SCHandshake pub or sign has the wrong length');
  if (hello.serverCertVersion !== 0 && sc.certVersion !== hello.serverCertVersion) {
    throw new JanusError(ErrorCode.HandshakeInvalid, `gateway signed with key version ${sc.certVersion}, pinned ${hello.serverCertVersion}`);
  }
  const key = pinned.get(sc.certVersion);
  if (!key) throw new JanusError(ErrorCode.HandshakeInvalid, `server key version ${sc.certVersion} is not pinned`);
  const input = serverSignatureInput(await crypto.sha256(hello.body), sc.pub, sc.timestamp, sc.certVersion, sc.startIndex, sc.version);
  if (!(await crypto.ed25519Verify(key, input, sc.sign))) throw new JanusError(ErrorCode.HandshakeInvalid, 'SCHandshake signature does not verify');
  const shared = await sharedSecret(crypto, hello.ephemeral.privateKey, sc.pub);
  result.keys = await deriveSessionKeys(crypto, shared, hello.ephemeral.publicKey, sc.pub);
  return result;
}

// ---------------------------------------------------------------------------------------
// Server side

/**
 * Decodes the first frame: a valid Packet with mod 1, seq 1 holding a valid CSHandshake.
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED or JANUS_ERR_UNEXPECTED_MESSAGE: close, nothing sent.
 */
export function decodeClientHello(body: Uint8Array): CSHandshake {
  const p = decodePacket(body);
  if (p.mod !== MOD_SYSTEM || p.seq !== SystemSeq.HANDSHAKE) {
    throw new JanusError(ErrorCode.UnexpectedMessage, `first frame is mod ${p.mod} seq ${p.seq}, not a CSHandshake`);
  }
  return decodeMessage(CSHandshakeSchema, p.data);
}

/** The gateway's handshake configuration. */
export interface ServerHandshakeConfig {
  crypto: CryptoBackend;
  /** false: plaintext mode (pub, sign and cert_version not checked). */
  encrypted: boolean;
  /** Accepted client key versions. */
  clientKeys: ReadonlyMap<number, VerifyKey>;
  /** Held server key versions. */
  serverKeys: ReadonlyMap<number, SigningKey>;
  /** Allowed |timestamp - now| (s), default 300. */
  handshakeSkew: number;
}

/**
 * Runs the checks of PROTOCOL.md 7.2 in order on a decoded CSHandshake.
 * @param now unix seconds.
 * @returns null when every check passes, else the ServerLogout code to send.
 */
export async function checkClientHello(
  cfg: ServerHandshakeConfig,
  hs: CSHandshake,
  now: number,
): Promise<SCServerLogout_Code | null> {
  const version = hs.version === 0 ? PROTOCOL_VERSION : hs.version;
  if (version !== PROTOCOL_VERSION) return SCServerLogout_Code.BadVersion;
  if (hs.token !== '') return SCServerLogout_Code.Unauthorized;
  if (cfg.encrypted) {
    if (hs.pub.length !== 32 || hs.sign.length !== 64) return SCServerLogout_Code.Unauthorized;
    const key = cfg.clientKeys.get(hs.certVersion);
    if (!key) return SCServerLogout_Code.Unauthorized;
    if (!(await cfg.crypto.ed25519Verify(key, clientSignatureInput(hs.pub, hs.timestamp, hs.serverId), hs.sign))) {
      return SCServerLogout_Code.Unauthorized;
    }
  }
  if (pickServerCertVersion(cfg.serverKeys, hs.serverCertVersion) === null) return SCServerLogout_Code.BadVersion;
  const skew = hs.timestamp - BigInt(Math.floor(now));
  if (skew > BigInt(cfg.handshakeSkew) || skew < -BigInt(cfg.handshakeSkew)) return SCServerLogout_Code.ClockSkew;
  return null;
}

/** The server key version to sign with: the one asked for, or the newest for 0; null if not held. */
export function pickServerCertVersion(serverKeys: ReadonlyMap<number, SigningKey>, asked: number): number | null {
  if (asked !== 0) return serverKeys.has(asked) ? asked : null;
  let newest: number | null = null;
  for (const v of serverKeys.keys()) if (newest === null || v > newest) newest = v;
  return newest;
}

/** Options of one SCHandshake. */
export interface ServerHelloOptions {
  /** The exact CSHandshake frame body. */
  csBody: Uint8Array;
  hs: CSHandshake;
  /** Unix seconds for SCHandshake.timestamp. */
  timestamp: bigint;
  /** In [1, 2^30]; random when omitted. */
  startIndex?: number;
  /** A fixed X25519 pair (tests); fresh when omitted. */
  ephemeral?: X25519KeyPair;
}

/** A built SCHandshake: `body` is the plaintext frame body to send. */
export interface ServerHello extends HandshakeResult {
  body: Uint8Array;
}

/**
 * Builds `Packet{mod=1, seq=1, data=SCHandshake}` and the session keys (PROTOCOL.md 7.3).
 * Call after {@link checkClientHello} returned null.
 * @throws JanusError JANUS_ERR_HANDSHAKE_ZERO_SHARED (close, nothing sent).
 */
export async function createServerHello(cfg: ServerHandshakeConfig, o: ServerHelloOptions): Promise<ServerHello> {
  const certVersion = pickServerCertVersion(cfg.serverKeys, o.hs.serverCertVersion);
  if (certVersion === null) throw new JanusError(ErrorCode.HandshakeInvalid, 'server key version not held');
  const startIndex = o.startIndex ?? randomStartIndex(cfg.crypto);
  const version = PROTOCOL_VERSION;
  let keys: SessionKeys | null = null;
  let pub: Uint8Array = new Uint8Array(0);
  let sign: Uint8Array = new Uint8Array(0);
  if (cfg.encrypted) {
    const eph = o.ephemeral ?? (await cfg.crypto.x25519Generate());
    const shared = await sharedSecret(cfg.crypto, eph.privateKey, o.hs.pub);
    pub = eph.publicKey;
    const input = serverSignatureInput(await cfg.crypto.sha256(o.csBody), pub, o.timestamp, certVersion, startIndex, version);
    sign = await cfg.crypto.ed25519Sign(cfg.serverKeys.get(certVersion)!, input);
    keys = await deriveSessionKeys(cfg.crypto, shared, o.hs.pub, pub);
  }
  const data = toBinary(SCHandshakeSchema, create(SCHandshakeSchema, { pub, sign, timestamp: o.timestamp, certVersion, startIndex, version }));
  const body = encodePacket(makePacket({ mod: MOD_SYSTEM, seq: SystemSeq.HANDSHAKE, data }));
  return { body, keys, startIndex, version, certVersion, peerTimestamp: o.hs.timestamp };
}

/** A uniformly random start_index in [1, 2^30]. */
export function randomStartIndex(crypto: CryptoBackend): number {
  const b = crypto.randomBytes(4);
  return ((((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) % MAX_START_INDEX) + 1;
}

