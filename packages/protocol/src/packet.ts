/**
 * The Packet codec, PROTOCOL.md section 3: the canonical encoding (fields in ascending
 * number order, proto3 defaults omitted) and a decoder that accepts any valid encoding and
 * ignores unknown fields. Hand-written for the hot path; tests cross-check it against the
 * generated codec of proto/janus/v1/packet.proto.
 */
import { ErrorCode, JanusError } from './errors.js';
import { malformed, varint32Size, varint64Size, WireReader, WireWriter } from './wire.js';

/** A Packet, the body of every client frame (PROTOCOL.md 3). int64/uint64 fields are bigint. */
export interface Packet {
  /** The message body: a serialized module message. */
  data: Uint8Array;
  /** uint64; 0 = none. */
  dataVersion: bigint;
  /** int64 object id; 0 from a client means "my own uid". */
  obj: bigint;
  /** int32 module id. */
  mod: number;
  /** int32 message id within the module. */
  seq: number;
  /** int32 protocol version of the message; 0 = none. */
  ver: number;
  /** int32 sequence index (client->gateway) or the request's index (0 for a push). */
  index: number;
  connId: number;
  fragId: number;
  fragCount: number;
  fragIndex: number;
  /** `data` is zlib (RFC 1950); malformed with mod 1. */
  compress: boolean;
}

const EMPTY = new Uint8Array(0);

/** Builds a Packet: every field not given holds its default. */
export function makePacket(fields: Partial<Packet>): Packet {
  return {
    data: fields.data ?? EMPTY,
    dataVersion: fields.dataVersion ?? 0n,
    obj: fields.obj ?? 0n,
    mod: fields.mod ?? 0,
    seq: fields.seq ?? 0,
    ver: fields.ver ?? 0,
    index: fields.index ?? 0,
    connId: fields.connId ?? 0,
    fragId: fields.fragId ?? 0,
    fragCount: fields.fragCount ?? 0,
    fragIndex: fields.fragIndex ?? 0,
    compress: fields.compress ?? false,
  };
}

function int32FieldSize(v: number): number {
  return v === 0 ? 0 : 1 + varint32Size(v);
}

/** Bytes the canonical encoding of `p` takes. */
export function packetSize(p: Packet): number {
  const dl = p.data.length;
  return (
    (dl === 0 ? 0 : 1 + varint32Size(dl) + dl) +
    (p.dataVersion === 0n ? 0 : 1 + varint64Size(p.dataVersion)) +
    (p.obj === 0n ? 0 : 1 + varint64Size(p.obj)) +
    int32FieldSize(p.mod) +
    int32FieldSize(p.seq) +
    int32FieldSize(p.ver) +
    int32FieldSize(p.index) +
    int32FieldSize(p.connId) +
    int32FieldSize(p.fragId) +
    int32FieldSize(p.fragCount) +
    int32FieldSize(p.fragIndex) +
    (p.compress ? 3 : 0)
  );
}

/** Encodes `p` canonically (PROTOCOL.md 3): one allocation of exactly the encoded size. */
export function encodePacket(p: Packet): Uint8Array {
  const w = new WireWriter(packetSize(p));
  if (p.data.length !== 0) {
    w.buf[w.pos++] = 0x0a;
    w.varint32(p.data.length);
    w.raw(p.data);
  }
  if (p.dataVersion !== 0n) {
    w.buf[w.pos++] = 0x10;
    w.varint64(p.dataVersion);
  }
  if (p.obj !== 0n) {
    w.buf[w.pos++] = 0x18;
    w.varint64(p.obj);
  }
  if (p.mod !== 0) {
    w.buf[w.pos++] = 0x20;
    w.varint32(p.mod);
  }
  if (p.seq !== 0) {
    w.buf[w.pos++] = 0x28;
    w.varint32(p.seq);
  }
  if (p.ver !== 0) {
    w.buf[w.pos++] = 0x30;
    w.varint32(p.ver);
  }
  if (p.index !== 0) {
    w.buf[w.pos++] = 0x38;
    w.varint32(p.index);
  }
  if (p.connId !== 0) {
    w.buf[w.pos++] = 0x40;
    w.varint32(p.connId);
  }
  if (p.fragId !== 0) {
    w.buf[w.pos++] = 0x48;
    w.varint32(p.fragId);
  }
  if (p.fragCount !== 0) {
    w.buf[w.pos++] = 0x50;
    w.varint32(p.fragCount);
  }
  if (p.fragIndex !== 0) {
    w.buf[w.pos++] = 0x58;
    w.varint32(p.fragIndex);
  }
  if (p.compress) {
    w.buf[w.pos++] = 0xa0;
    w.buf[w.pos++] = 0x01;
    w.buf[w.pos++] = 0x01;
  }
  return w.buf;
}

/**
 * Decodes a Packet. `data` is a view into `body` (no copy).
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED: truncated, bad wire type for a known
 *   field, field number 0, or mod 1 with compress (PROTOCOL.md 3).
 */
export function decodePacket(body: Uint8Array): Packet {
  const r = new WireReader(body);
  const p = makePacket({});
  const end = body.length;
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) malformed('field number 0');
    if (no <= 11 || no === 20) {
      const want = no === 1 ? 2 : 0;
      if (wt !== want) malformed(`field ${no} has wire type ${wt}`);
    }
    switch (no) {
      case 1:
        p.data = r.bytes();
        break;
      case 2:
        p.dataVersion = r.uint64();
        break;
      case 3:
        p.obj = r.int64();
        break;
      case 4:
        p.mod = r.int32();
        break;
      case 5:
        p.seq = r.int32();
        break;
      case 6:
        p.ver = r.int32();
        break;
      case 7:
        p.index = r.int32();
        break;
      case 8:
        p.connId = r.int32();
        break;
      case 9:
        p.fragId = r.int32();
        break;
      case 10:
        p.fragCount = r.int32();
        break;
      case 11:
        p.fragIndex = r.int32();
        break;
      case 20:
        p.compress = r.varint64() !== 0 || r.hi !== 0;
        break;
      default:
        r.skip(wt, no);
    }
  }
  if (p.mod === 1 && p.compress) {
    throw new JanusError(ErrorCode.PacketMalformed, 'malformed Packet: mod 1 with compress true');
  }
  return p;
}
