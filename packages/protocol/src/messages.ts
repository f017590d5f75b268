/**
 * Codecs of the System module's messages (PROTOCOL.md 4) through the generated schemas,
 * plus the builders of the System Packets the gateway sends. Off the per-message hot path.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { ErrorCode, JanusError } from './errors.js';
import { makePacket, type Packet } from './packet.js';
import {
  SCHeartbeat_Code,
  SCHeartbeatSchema,
  SCServerLogout_Code,
  SCServerLogoutSchema,
  SCServerUnexpectedErrSchema,
  SystemSeq,
} from './gen/janus/v1/system_pb.js';

/** Module id of the System module. */
export const MOD_SYSTEM = 1;

/** Encodes a message canonically (ascending field order, defaults omitted). */
export function encodeMessage<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

/**
 * Decodes a message.
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED when the bytes are not a valid encoding.
 */
export function decodeMessage<D extends DescMessage>(schema: D, bytes: Uint8Array): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    throw new JanusError(ErrorCode.PacketMalformed, `malformed ${schema.typeName}: ${(err as Error).message}`);
  }
}

/** True when `p` is a ServerLogout (mod 1, seq 4). */
export function isServerLogout(p: Packet): boolean {
  return p.mod === MOD_SYSTEM && p.seq === SystemSeq.SERVER_LOGOUT;
}

/**
 * The ServerLogout in `p` as the error a client rejects with: JANUS_ERR_LOGOUT with
 * `details.logoutCode` and `details.serverTime` (bigint unix seconds, for clock correction).
 * @param when what the client was waiting for, e.g. `instead of SCAuth`.
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED when its data is not an SCServerLogout.
 */
export function serverLogoutError(p: Packet, when: string): JanusError {
  const lo = decodeMessage(SCServerLogoutSchema, p.data);
  const name = SCServerLogout_Code[lo.code] ?? String(lo.code);
  return new JanusError(ErrorCode.Logout, `gateway sent ServerLogout ${name} ${when}`, {
    logoutCode: lo.code,
    serverTime: lo.serverTime,
  });
}

/**
 * Checks a kick's ServerLogout code (PROTOCOL.md 4, 11): the gateway's push fronts and the
 * backend SDK's push clients both call it.
 * @throws JanusError JANUS_ERR_ARG_INVALID when `code` is not an SCServerLogout code.
 */
export function checkKickCode(code: number): SCServerLogout_Code {
  if (!Number.isInteger(code) || SCServerLogout_Code[code] === undefined) {
    throw new JanusError(ErrorCode.ArgInvalid, `kick code ${code} is not an SCServerLogout code`, { code });
  }
  return code as SCServerLogout_Code;
}

/** `Packet{mod=1, seq=4, data=SCServerLogout{code, server_time}}` (PROTOCOL.md 4). `now` in unix seconds. */
export function serverLogoutPacket(code: SCServerLogout_Code, now: number): Packet {
  return makePacket({
    mod: MOD_SYSTEM,
    seq: SystemSeq.SERVER_LOGOUT,
    data: encodeMessage(SCServerLogoutSchema, { code, serverTime: BigInt(now) }),
  });
}

/** `Packet{mod=1, seq=3, index, data=SCServerUnexpectedErr{mod, seq, msg}}` (PROTOCOL.md 8). */
export function serverUnexpectedErrPacket(index: number, mod: number, seq: number, msg: string): Packet {
  return makePacket({
    mod: MOD_SYSTEM,
    seq: SystemSeq.SERVER_UNEXPECTED_ERR,
    index,
    data: encodeMessage(SCServerUnexpectedErrSchema, { mod, seq, msg }),
  });
}

/** `Packet{mod=1, seq=2, index, data=SCHeartbeat{server_time, code}}` (PROTOCOL.md 8). */
export function heartbeatReplyPacket(index: number, now: number, code: SCHeartbeat_Code): Packet {
  return makePacket({
    mod: MOD_SYSTEM,
    seq: SystemSeq.HEARTBEAT,
    index,
    data: encodeMessage(SCHeartbeatSchema, { serverTime: BigInt(now), code }),
  });
}
