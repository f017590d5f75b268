/**
 * Protobuf wire primitives for the hand-written hot-path codecs (Packet, tunnel messages).
 *
 * Why hand-written: these messages cross the gateway once per client message; the generated
 * (reflective) codec is kept for every other message and cross-checks these in tests.
 */
import { ErrorCode, JanusError } from './errors.js';

/** How deep unknown groups may nest (the generated codec, @bufbuild/protobuf, allows 99). */
export const MAX_GROUP_DEPTH = 100;

/** Fails decoding with the typed error the connection closes on. */
export function malformed(what: string): never {
  throw new JanusError(ErrorCode.PacketMalformed, `malformed protobuf: ${what}`);
}

/** Cursor over a protobuf byte string. All reads throw JANUS_ERR_PACKET_MALFORMED when out of bounds. */
export class WireReader {
  pos = 0;
  /** High 32 bits of the last {@link WireReader.varint64} (its low bits are the return value). */
  hi = 0;

  constructor(readonly buf: Uint8Array) {}

  /** Reads a varint of up to 10 bytes; returns the low 32 bits (unsigned) and sets `hi`. */
  varint64(): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let b: number;
    let pos = this.pos;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= buf.length) malformed('truncated varint');
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    if (pos >= buf.length) malformed('truncated varint');
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let shift = 3; shift < 32; shift += 7) {
        if (pos >= buf.length) malformed('truncated varint');
        b = buf[pos++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        if (shift + 7 >= 32) malformed('varint longer than 10 bytes');
      }
    }
    this.pos = pos;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** Reads a varint as int32 (the low 32 bits, two's complement). */
  int32(): number {
    return this.varint64() | 0;
  }

  /** Reads a varint as a length or tag (must fit 32 bits unsigned). */
  uint32(): number {
    const lo = this.varint64();
    if (this.hi !== 0) malformed('varint over 32 bits');
    return lo;
  }

  /** Reads a varint as int64. */
  int64(): bigint {
    const lo = this.varint64();
    if (this.hi === 0) return BigInt(lo);
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(lo));
  }

  /** Reads a varint as uint64. */
  uint64(): bigint {
    const lo = this.varint64();
    if (this.hi === 0) return BigInt(lo);
    return (BigInt(this.hi) << 32n) | BigInt(lo);
  }

  /** Reads a length-delimited field as a view into the buffer. */
  bytes(): Uint8Array {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) malformed('length-delimited field past the end');
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  /**
   * Skips a field of the given wire type (unknown fields are ignored, PROTOCOL.md 3).
   * Groups nest at most {@link MAX_GROUP_DEPTH} deep: skipping recurses once per level, so an
   * unbounded depth would let a hostile body overflow the stack instead of failing typed.
   */
  skip(wireType: number, fieldNo: number, depth = 0): void {
    switch (wireType) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.advance(4);
        return;
      case 3: {
        // A group: skip fields until its matching end-group tag.
        if (depth >= MAX_GROUP_DEPTH) malformed(`groups nested deeper than ${MAX_GROUP_DEPTH}`);
        for (;;) {
          if (this.pos >= this.buf.length) malformed('unterminated group');
          const tag = this.uint32();
          const wt = tag & 7;
          const no = tag >>> 3;
          if (no === 0) malformed('field number 0');
          if (wt === 4) {
            if (no !== fieldNo) malformed('mismatched end group');
            return;
          }
          this.skip(wt, no, depth + 1);
        }
      }
      default:
        malformed(`wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) malformed('fixed field past the end');
    this.pos += n;
  }
}

/** Bytes a varint of the unsigned 32-bit value `v` takes. */
export function varint32Size(v: number): number {
  if (v < 0) return 10; // negative int32 is sign-extended to 64 bits
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Bytes a varint of the 64-bit value `v` (int64 or uint64) takes. */
export function varint64Size(v: bigint): number {
  if (v >= 0n && v < 0x10000000n) return varint32Size(Number(v));
  let u = BigInt.asUintN(64, v);
  let n = 0;
  while (u > 0n) {
    u >>= 7n;
    n++;
  }
  return n;
}

/**
 * Allocates `n` bytes that the caller overwrites completely. In Node, `Buffer.allocUnsafe`
 * slices small sizes from a shared pool (about 40x cheaper than `new Uint8Array(n)` past
 * 64 bytes, which V8 allocates off-heap and zero-fills); browsers get a plain Uint8Array.
 * The encoders size their output exactly and write every byte, so nothing stale leaks.
 */
export const allocBytes: (n: number) => Uint8Array =
  typeof (globalThis as { Buffer?: { allocUnsafe?: unknown } }).Buffer?.allocUnsafe === 'function'
    ? (n) => (globalThis as unknown as { Buffer: { allocUnsafe(n: number): Uint8Array } }).Buffer.allocUnsafe(n)
    : (n) => new Uint8Array(n);

/** Writes varints and bytes into a buffer sized in advance (one allocation per message). */
export class WireWriter {
  pos = 0;
  readonly buf: Uint8Array;

  constructor(size: number) {
    this.buf = allocBytes(size);
  }

  /** Writes an int32 (negative: 10-byte sign-extended) or uint32 varint. */
  varint32(v: number): void {
    const buf = this.buf;
    if (v < 0) {
      this.varint64(BigInt(v));
      return;
    }
    while (v > 0x7f) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  /** Writes an int64 or uint64 varint. */
  varint64(v: bigint): void {
    if (v >= 0n && v < 0x80000000n) {
      this.varint32(Number(v));
      return;
    }
    let lo = Number(BigInt.asUintN(32, v));
    let hi = Number(BigInt.asUintN(32, v >> 32n));
    const buf = this.buf;
    while (hi > 0 || lo > 0x7f) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  /** Writes raw bytes. */
  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}
