/**
 * One error base class with stable string codes (STYLE.md practice 5).
 *
 * Every `JANUS_ERR_*` code is listed in docs/errors.md with what it sends on the wire;
 * a test fails when a code is missing there.
 */

/** Stable error codes, grouped by the layer that raises them. */
export const ErrorCode = {
  /** A frame's length prefix is 0 (TCP) or a WebSocket message is empty. PROTOCOL.md 2. */
  FrameEmpty: 'JANUS_ERR_FRAME_EMPTY',
  /** A frame's length prefix or a message is over maxFrameBytes. PROTOCOL.md 2. */
  FrameTooLarge: 'JANUS_ERR_FRAME_TOO_LARGE',
  /** A body is not a valid Packet (or a System message is not valid protobuf). PROTOCOL.md 3. */
  PacketMalformed: 'JANUS_ERR_PACKET_MALFORMED',
  /** A record failed to open: tampered, replayed, dropped or reordered. PROTOCOL.md 7.5. */
  RecordOpen: 'JANUS_ERR_RECORD_OPEN',
  /** A direction's record counter would pass 2^32 - 1. PROTOCOL.md 7.5. */
  RecordLimit: 'JANUS_ERR_RECORD_LIMIT',
  /** A handshake message fails its checks (lengths, signature, versions). PROTOCOL.md 7. */
  HandshakeInvalid: 'JANUS_ERR_HANDSHAKE_INVALID',
  /** The X25519 shared secret is all zero. PROTOCOL.md 7.3. */
  HandshakeZeroShared: 'JANUS_ERR_HANDSHAKE_ZERO_SHARED',
  /** A token does not decode (strict base64url) or does not authenticate. PROTOCOL.md 6. */
  TokenMalformed: 'JANUS_ERR_TOKEN_MALFORMED',
  /** A token authenticates but its account_id <= 0. PROTOCOL.md 6. */
  TokenInvalid: 'JANUS_ERR_TOKEN_INVALID',
  /** A token's timeout <= now. PROTOCOL.md 6. */
  TokenExpired: 'JANUS_ERR_TOKEN_EXPIRED',
  /** A key file or key bytes cannot be loaded. PROTOCOL.md 5. */
  KeyInvalid: 'JANUS_ERR_KEY_INVALID',
  /** An int64 id does not fit a JavaScript number (beyond 2^53 - 1). PROTOCOL.md 3. */
  IdOutOfRange: 'JANUS_ERR_ID_OUT_OF_RANGE',
  /** Inflating a compressed Packet passed maxInflateBytes, or the data is not zlib. PROTOCOL.md 8. */
  InflateLimit: 'JANUS_ERR_INFLATE',
  /** A Packet's index is not start_index + k, or is past 2^31 - 1. PROTOCOL.md 8. */
  IndexMismatch: 'JANUS_ERR_INDEX_MISMATCH',
  /** The peer sent something the current connection state does not accept. PROTOCOL.md 7.6. */
  UnexpectedMessage: 'JANUS_ERR_UNEXPECTED_MESSAGE',
  /** No CSHandshake or CSAuth within handshakeTimeout. PROTOCOL.md 7.2, 7.6. */
  HandshakeTimeout: 'JANUS_ERR_HANDSHAKE_TIMEOUT',
  /** No frame from the peer within idleTimeout. PROTOCOL.md 8. */
  IdleTimeout: 'JANUS_ERR_IDLE_TIMEOUT',
  /** The session was ended by a ServerLogout; `logoutCode` says which. PROTOCOL.md 4. */
  Logout: 'JANUS_ERR_LOGOUT',
  /** A request could not be delivered to a backend (ServerUnexpectedErr). PROTOCOL.md 8. */
  ServerUnexpected: 'JANUS_ERR_SERVER_UNEXPECTED',
  /** The transport closed (socket ended, WebSocket closed) before the operation finished. */
  ConnectionClosed: 'JANUS_ERR_CONNECTION_CLOSED',
  /** A request got no reply within the caller's timeout. */
  RequestTimeout: 'JANUS_ERR_REQUEST_TIMEOUT',
  /** Configuration does not validate; the message names the key. */
  ConfigInvalid: 'JANUS_ERR_CONFIG_INVALID',
  /** A command-line argument is missing or invalid. */
  ArgInvalid: 'JANUS_ERR_ARG_INVALID',
  /** A module or service has no backend instance, or its tunnel failed. PROTOCOL.md 8, 9. */
  NoInstance: 'JANUS_ERR_NO_INSTANCE',
  /** A trusted proxy's connection does not start with a valid PROXY protocol v1/v2 header (docs/gateway.md). */
  ProxyHeaderInvalid: 'JANUS_ERR_PROXY_HEADER',
  /** A config reload cannot run: the gateway is closing, or it has no config source (docs/operations.md). */
  ReloadUnavailable: 'JANUS_ERR_RELOAD_UNAVAILABLE',
  /** The route table or push bus (Redis) did not answer: unreachable, reconnecting, or past its command timeout. PROTOCOL.md 10, 11. */
  RouteTableUnavailable: 'JANUS_ERR_ROUTE_TABLE_UNAVAILABLE',
  /** Another running gateway already owns this gateway's advertised gRPC address in the route table. PROTOCOL.md 10. */
  GatewayAddressTaken: 'JANUS_ERR_GATEWAY_ADDRESS_TAKEN',
  /** A service registry value (etcd) is not a usable Kratos ServiceInstance. PROTOCOL.md 10. */
  RegistryValueInvalid: 'JANUS_ERR_REGISTRY_VALUE',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The error every Janus package throws or reports.
 *
 * `code` is stable and documented in docs/errors.md; `message` is for people and may change.
 */
export class JanusError extends Error {
  readonly code: ErrorCodeValue;
  /** Extra structured facts (never a secret): e.g. `{ logoutCode: 1 }`, `{ length: 70000 }`. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCodeValue, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JanusError';
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a JanusError, optionally with the given code. */
export function isJanusError(err: unknown, code?: ErrorCodeValue): err is JanusError {
  return err instanceof JanusError && (code === undefined || err.code === code);
}
