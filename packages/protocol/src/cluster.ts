/**
 * The cluster's shared names (PROTOCOL.md 10 and 11): route table keys, the gateway
 * table's service name, the broadcast push channel, and the PushMessage codec. The gateway
 * and the backend SDK both build them from here, so a backend finds a user's gateway the
 * way the gateway wrote it.
 */
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { decodeMessage } from './messages.js';
import { PushMessageSchema, type PushMessage } from './gen/gate/service/push/v1/push_pb.js';

/** The service name under which gateways record who holds a user (PROTOCOL.md 10). */
export const GATE_SERVICE_NAME = 'janus.gate.interface';

/** The Redis pub/sub channel every gateway acts on (PROTOCOL.md 11). */
export const PUSH_BROADCAST_CHANNEL = 'gate.broadcast.message';

/** Route table key `r_{service}_{color}_{oid}` (PROTOCOL.md 10). */
export function routeKey(service: string, color: string, oid: bigint): string {
  return `r_${service}_${color}_${oid}`;
}

/**
 * Gateway table key `r_janus.gate.interface_{color}_{uid}` (PROTOCOL.md 10): its value is
 * the gRPC `host:port` of the gateway holding the user, which is also that gateway's own
 * push channel (PROTOCOL.md 11).
 */
export function gateRouteKey(color: string, uid: bigint): string {
  return routeKey(GATE_SERVICE_NAME, color, uid);
}

/** Encodes a cluster `PushMessage` (PROTOCOL.md 11) for a pub/sub channel. */
export function encodePushMessage(init: MessageInitShape<typeof PushMessageSchema>): Uint8Array {
  return toBinary(PushMessageSchema, create(PushMessageSchema, init));
}

/**
 * Decodes a cluster `PushMessage`.
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED when the bytes are not a PushMessage.
 */
export function decodePushMessage(bytes: Uint8Array): PushMessage {
  return decodeMessage(PushMessageSchema, bytes);
}
