/**
 * Numbers of the session rules (PROTOCOL.md 8) and the tunnel metadata keys (PROTOCOL.md 9)
 * that the gateway and both SDKs must agree on. One definition, imported everywhere.
 */

/** The largest index a client packet may carry (2^31 - 1). PROTOCOL.md 8. */
export const MAX_INDEX = 0x7fffffff;

/** |client_time - server time| above this answers SCHeartbeat ErrTime (s). PROTOCOL.md 8. */
export const HEARTBEAT_SKEW_S = 10;

/** A client sends CSHeartbeat after this long with nothing sent (ms). PROTOCOL.md 8. */
export const HEARTBEAT_INTERVAL_MS = 20_000;

/** The smallest idle timeout a gateway may use: 3 x the heartbeat interval (ms). PROTOCOL.md 8. */
export const MIN_IDLE_TIMEOUT_MS = 3 * HEARTBEAT_INTERVAL_MS;

/** The metadata keys of a tunnel stream (PROTOCOL.md 9); numbers travel as decimal strings. */
export const TUNNEL_METADATA_KEYS = {
  /** The stream's object id (uid on the player stream, `obj` on an object stream); int64. */
  oid: 'x-md-global-oid',
  /** The player's uid; int64. */
  uid: 'x-md-global-uid',
  /** The player's server id (from the token); int64. */
  sid: 'x-md-global-sid',
  /** The token's status number; int32. */
  status: 'x-md-global-status',
  /** The session's color (routing group). */
  color: 'x-md-global-color',
  /** The client socket's peer address. */
  clientIp: 'x-md-global-client-ip',
  /** Who opened the stream: `janus.gate.interface`. */
  referer: 'x-md-global-referer',
  /** `host:grpcPort#connectionId`: the gateway's internal gRPC address and the connection. */
  gateReferer: 'x-md-global-gate-referer',
} as const;
