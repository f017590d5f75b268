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

/** The fields of a tunnel stream's metadata (PROTOCOL.md 9), decoded. */
export interface TunnelMetadataFields {
  /** x-md-global-oid: the stream's object id. */
  readonly oid: bigint;
  /** x-md-global-uid. */
  readonly uid: bigint;
  /** x-md-global-sid; 0n when absent. */
  readonly sid: bigint;
  /** x-md-global-status; 0 when absent. */
  readonly status: number;
  /** x-md-global-color; '' when absent. */
  readonly color: string;
  /** x-md-global-client-ip; '' when absent. */
  readonly clientIp: string;
  /** x-md-global-referer; '' when absent. */
  readonly referer: string;
  /** x-md-global-gate-referer; '' when absent. */
  readonly gateReferer: string;
}

/**
 * The metadata a gateway sends when it opens a tunnel stream (PROTOCOL.md 9) as plain
 * key -> value pairs: numbers as decimal strings, every key set. The HTTP/2 headers of the
 * gateway's tunnel client and the backend SDK's grpc-js Metadata are both built from it.
 */
export function tunnelMetadataHeaders(fields: TunnelMetadataFields): Record<string, string> {
  const K = TUNNEL_METADATA_KEYS;
  return {
    [K.oid]: fields.oid.toString(),
    [K.uid]: fields.uid.toString(),
    [K.sid]: fields.sid.toString(),
    [K.status]: String(fields.status),
    [K.color]: fields.color,
    [K.clientIp]: fields.clientIp,
    [K.referer]: fields.referer,
    [K.gateReferer]: fields.gateReferer,
  };
}
