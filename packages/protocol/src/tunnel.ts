/**
 * The TunnelRequest/TunnelResponse codec, PROTOCOL.md 9 (both share their fields: data=1,
 * data_version=2, obj=3, mod=4, seq=5, index=6, conn_id=7, frag_id=8, frag_count=9,
 * frag_index=10, ver=11). Hand-written: every routed message crosses it twice. Tests
 * cross-check it against the generated codec of proto/player/intra/v1/tunnel.proto.
 */
import { makePacket, type Packet } from './packet.js';
import { varint32Size, varint64Size, WireReader, WireWriter, malformed } from './wire.js';

/** A TunnelRequest or TunnelResponse. int64/uint64 fields are bigint. */
export interface TunnelMessage {
  data: Uint8Array;
  dataVersion: bigint;
  obj: bigint;
  mod: number;
  seq: number;
  index: number;
  connId: number;
  fragId: number;
  fragCount: number;
  fragIndex: number;
  ver: number;
}

/** Default gRPC method paths of the tunnel services (PROTOCOL.md 9). */
export const TUNNEL_PATHS = {
  player: '/player.intra.v1.TunnelService/Tunnel',
  room: '/room.intra.v1.TunnelService/Tunnel',
} as const;

/**
 * Room for a tunnel message's fields other than `data` (bytes): its own fields are at most
 * eleven varints, about a hundred bytes. The largest tunnel message carrying `n` bytes of
 * data is at most `n + TUNNEL_FIELDS_HEADROOM_BYTES` (gRPC receive limits are set from it).
 */
export const TUNNEL_FIELDS_HEADROOM_BYTES = 1024;

const EMPTY = new Uint8Array(0);

/** Builds a TunnelMessage: every field not given (or undefined) holds its default. */
export function makeTunnelMessage(f: Partial<TunnelMessage>): TunnelMessage {
  return {
    data: f.data ?? EMPTY,
    dataVersion: f.dataVersion ?? 0n,
    obj: f.obj ?? 0n,
    mod: f.mod ?? 0,
    seq: f.seq ?? 0,
    index: f.index ?? 0,
    connId: f.connId ?? 0,
    fragId: f.fragId ?? 0,
    fragCount: f.fragCount ?? 0,
    fragIndex: f.fragIndex ?? 0,
    ver: f.ver ?? 0,
  };
}

function f32(v: number): number {
  return v === 0 ? 0 : 1 + varint32Size(v);
}

function int32Field(w: WireWriter, tag: number, v: number): void {
  if (v !== 0) {
    w.buf[w.pos++] = tag;
    w.varint32(v);
  }
}

/**
 * Encodes canonically (ascending field order, defaults omitted).
 * @param headroom bytes left unwritten before the message, for a framing the caller writes
 *   in place (the gateway's 5-byte gRPC prefix): one buffer per message, no copy.
 * @param tail already encoded fields numbered above 11, appended after field 11 (the trace
 *   context of tunnel-trace.ts); default none.
 */
export function encodeTunnelMessage(m: TunnelMessage, headroom = 0, tail: Uint8Array = EMPTY): Uint8Array {
  const dl = m.data.length;
  const size =
    (dl === 0 ? 0 : 1 + varint32Size(dl) + dl) +
    (m.dataVersion === 0n ? 0 : 1 + varint64Size(m.dataVersion)) +
    (m.obj === 0n ? 0 : 1 + varint64Size(m.obj)) +
    f32(m.mod) + f32(m.seq) + f32(m.index) + f32(m.connId) + f32(m.fragId) + f32(m.fragCount) + f32(m.fragIndex) + f32(m.ver) +
    tail.length;
  const w = new WireWriter(headroom + size);
  w.pos = headroom;
  if (dl !== 0) {
    w.buf[w.pos++] = 0x0a;
    w.varint32(dl);
    w.raw(m.data);
  }
  if (m.dataVersion !== 0n) {
    w.buf[w.pos++] = 0x10;
    w.varint64(m.dataVersion);
  }
  if (m.obj !== 0n) {
    w.buf[w.pos++] = 0x18;
    w.varint64(m.obj);
  }
  // Fields 4..11, unrolled (no per-message array).
  int32Field(w, 0x20, m.mod);
  int32Field(w, 0x28, m.seq);
  int32Field(w, 0x30, m.index);
  int32Field(w, 0x38, m.connId);
  int32Field(w, 0x40, m.fragId);
  int32Field(w, 0x48, m.fragCount);
  int32Field(w, 0x50, m.fragIndex);
  int32Field(w, 0x58, m.ver);
  if (tail.length !== 0) w.raw(tail);
  return w.buf;
}

/**
 * Decodes a TunnelRequest or TunnelResponse; `data` is a view into `bytes`.
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED.
 */
export function decodeTunnelMessage(bytes: Uint8Array): TunnelMessage {
  return decodeTunnelInto(bytes, makeTunnelMessage({}));
}

/**
 * Decodes a TunnelResponse straight into a Packet (`compress` false), the shape the
 * gateway sends on: one object of one hidden class per message (PROTOCOL.md 9: responses
 * become Packets to the client).
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED.
 */
export function decodeTunnelMessageAsPacket(bytes: Uint8Array): Packet {
  return decodeTunnelInto(bytes, makePacket({}));
}

function decodeTunnelInto<T extends TunnelMessage>(bytes: Uint8Array, m: T): T {
  const r = new WireReader(bytes);
  while (r.pos < bytes.length) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) malformed('field number 0');
    if (no >= 1 && no <= 11 && wt !== (no === 1 ? 2 : 0)) malformed(`field ${no} has wire type ${wt}`);
    switch (no) {
      case 1: m.data = r.bytes(); break;
      case 2: m.dataVersion = r.uint64(); break;
      case 3: m.obj = r.int64(); break;
      case 4: m.mod = r.int32(); break;
      case 5: m.seq = r.int32(); break;
      case 6: m.index = r.int32(); break;
      case 7: m.connId = r.int32(); break;
      case 8: m.fragId = r.int32(); break;
      case 9: m.fragCount = r.int32(); break;
      case 10: m.fragIndex = r.int32(); break;
      case 11: m.ver = r.int32(); break;
      default: r.skip(wt, no);
    }
  }
  return m;
}
