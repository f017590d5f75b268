/**
 * The hand-written hot-path codecs (PROTOCOL.md 3 and 9) against the generated codec of the
 * same .proto files: byte-for-byte canonical encoding, decoding of any valid encoding
 * (fields out of order, repeated last-wins, unknown fields of every wire type), the typed
 * rejections, and fuzzing (a decoder returns or throws JanusError, nothing else).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { create, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import {
  decodePacket,
  decodeTunnelMessage,
  encodePacket,
  encodeTunnelMessage,
  ErrorCode,
  GeneratedPacketSchema,
  isJanusError,
  makePacket,
  packetSize,
  PlayerTunnelRequestSchema,
  PlayerTunnelResponseSchema,
  toHex,
  type Packet,
  type TunnelMessage,
} from '../src/index.js';
import { MAX_GROUP_DEPTH } from '../src/wire.js';
import { fuzzRuns } from './support/fuzz.js';

// ---------------------------------------------------------------------------------------
// A test-side protobuf writer, independent of src/wire.ts.

type Kind = 'bytes' | 'uint64' | 'int64' | 'int32' | 'bool';
interface FieldSpec {
  no: number;
  name: string;
  kind: Kind;
}
type Fields = Record<string, unknown>;

const PACKET_FIELDS: FieldSpec[] = [
  { no: 1, name: 'data', kind: 'bytes' },
  { no: 2, name: 'dataVersion', kind: 'uint64' },
  { no: 3, name: 'obj', kind: 'int64' },
  { no: 4, name: 'mod', kind: 'int32' },
  { no: 5, name: 'seq', kind: 'int32' },
  { no: 6, name: 'ver', kind: 'int32' },
  { no: 7, name: 'index', kind: 'int32' },
  { no: 8, name: 'connId', kind: 'int32' },
  { no: 9, name: 'fragId', kind: 'int32' },
  { no: 10, name: 'fragCount', kind: 'int32' },
  { no: 11, name: 'fragIndex', kind: 'int32' },
  { no: 20, name: 'compress', kind: 'bool' },
];

const TUNNEL_FIELDS: FieldSpec[] = [
  { no: 1, name: 'data', kind: 'bytes' },
  { no: 2, name: 'dataVersion', kind: 'uint64' },
  { no: 3, name: 'obj', kind: 'int64' },
  { no: 4, name: 'mod', kind: 'int32' },
  { no: 5, name: 'seq', kind: 'int32' },
  { no: 6, name: 'index', kind: 'int32' },
  { no: 7, name: 'connId', kind: 'int32' },
  { no: 8, name: 'fragId', kind: 'int32' },
  { no: 9, name: 'fragCount', kind: 'int32' },
  { no: 10, name: 'fragIndex', kind: 'int32' },
  { no: 11, name: 'ver', kind: 'int32' },
];

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Minimal varint of a 64-bit value (negative: two's complement, 10 bytes). */
function varint(v: bigint): number[] {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

/** A varint padded with `extra` redundant bytes (valid, not minimal; at most 10 bytes). */
function paddedVarint(v: bigint, extra: number): number[] {
  const m = varint(v);
  const n = Math.min(extra, 10 - m.length);
  if (n <= 0) return m;
  m[m.length - 1]! |= 0x80;
  for (let i = 1; i < n; i++) m.push(0x80);
  m.push(0x00);
  return m;
}

function tag(no: number, wt: number): number[] {
  return varint(BigInt(no) * 8n + BigInt(wt));
}

/** One entry of a hand-built encoding. */
type Entry =
  | { t: 'known'; spec: FieldSpec; raw: bigint; bytes: Uint8Array; pad: number }
  | { t: 'varint'; no: number; v: bigint }
  | { t: 'fixed64'; no: number; b: Uint8Array }
  | { t: 'fixed32'; no: number; b: Uint8Array }
  | { t: 'len'; no: number; b: Uint8Array }
  | { t: 'group'; no: number; body: Entry[] };

function writeEntry(e: Entry, out: number[]): void {
  switch (e.t) {
    case 'known':
      if (e.spec.kind === 'bytes') {
        out.push(...tag(e.spec.no, 2), ...paddedVarint(BigInt(e.bytes.length), e.pad), ...e.bytes);
      } else {
        out.push(...tag(e.spec.no, 0), ...paddedVarint(e.raw, e.pad));
      }
      return;
    case 'varint':
      out.push(...tag(e.no, 0), ...varint(e.v));
      return;
    case 'fixed64':
      out.push(...tag(e.no, 1), ...e.b);
      return;
    case 'fixed32':
      out.push(...tag(e.no, 5), ...e.b);
      return;
    case 'len':
      out.push(...tag(e.no, 2), ...varint(BigInt(e.b.length)), ...e.b);
      return;
    case 'group':
      out.push(...tag(e.no, 3));
      for (const inner of e.body) writeEntry(inner, out);
      out.push(...tag(e.no, 4));
      return;
  }
}

function writeEntries(entries: Entry[]): Uint8Array {
  const out: number[] = [];
  for (const e of entries) writeEntry(e, out);
  return Uint8Array.from(out);
}

/** The value a decoder must produce for a field written as the raw varint `raw` (or bytes). */
function fieldValue(e: Extract<Entry, { t: 'known' }>): unknown {
  switch (e.spec.kind) {
    case 'bytes':
      return e.bytes;
    case 'uint64':
      return BigInt.asUintN(64, e.raw);
    case 'int64':
      return BigInt.asIntN(64, e.raw);
    case 'int32':
      return Number(BigInt.asIntN(32, e.raw));
    case 'bool':
      return e.raw !== 0n;
  }
}

function defaults(specs: FieldSpec[]): Fields {
  const f: Fields = {};
  for (const s of specs) {
    f[s.name] = s.kind === 'bytes' ? new Uint8Array(0) : s.kind === 'bool' ? false : s.kind === 'int32' ? 0 : 0n;
  }
  return f;
}

/** What any valid decoder makes of `entries`: defaults, then each known field, last wins. */
function expectedFields(specs: FieldSpec[], entries: Entry[]): Fields {
  const f = defaults(specs);
  for (const e of entries) if (e.t === 'known') f[e.spec.name] = fieldValue(e);
  return f;
}

/** The spec's fields of a message, with bytes as hex so deepEqual ignores Buffer vs Uint8Array. */
function pick(specs: FieldSpec[], m: object): Fields {
  const src = m as Fields;
  const out: Fields = {};
  for (const s of specs) out[s.name] = s.kind === 'bytes' ? toHex(src[s.name] as Uint8Array) : src[s.name];
  return out;
}

// ---------------------------------------------------------------------------------------
// Arbitraries

const int32Arb = fc.oneof(
  fc.constantFrom(0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31)),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
);
const int64Arb = fc.oneof(fc.constantFrom(0n, 1n, -1n, I64_MIN, I64_MAX, 2n ** 31n, 2n ** 32n), fc.bigInt({ min: I64_MIN, max: I64_MAX }));
const uint64Arb = fc.oneof(fc.constantFrom(0n, 1n, 2n ** 63n, U64_MAX, 2n ** 32n - 1n), fc.bigInt({ min: 0n, max: U64_MAX }));
const bytesArb = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength: 300 }));

function valueArb(kind: Kind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'bytes':
      return bytesArb;
    case 'uint64':
      return uint64Arb;
    case 'int64':
      return int64Arb;
    case 'int32':
      return int32Arb;
    case 'bool':
      return fc.boolean();
  }
}

/** A message of the spec with every field random (proto3 defaults often). */
function messageArb(specs: FieldSpec[]): fc.Arbitrary<Fields> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const s of specs) shape[s.name] = valueArb(s.kind);
  return fc.record(shape);
}

/** A Packet whose compress is only true when mod != 1 (PROTOCOL.md 3). */
const packetArb: fc.Arbitrary<Packet> = messageArb(PACKET_FIELDS).map((f) => {
  const p = f as unknown as Packet;
  return p.mod === 1 ? { ...p, compress: false } : p;
});
const tunnelArb = messageArb(TUNNEL_FIELDS) as unknown as fc.Arbitrary<TunnelMessage>;

/** An unknown field number: above the known ones and below 2^29. */
function unknownNoArb(specs: FieldSpec[]): fc.Arbitrary<number> {
  const known = new Set(specs.map((s) => s.no));
  return fc.oneof(fc.integer({ min: 12, max: 40 }), fc.integer({ min: 12, max: 2 ** 29 - 1 })).filter((n) => !known.has(n));
}

const anyNoArb = fc.integer({ min: 1, max: 2 ** 29 - 1 });

function leafArb(noArb: fc.Arbitrary<number>): fc.Arbitrary<Entry> {
  return fc.oneof(
    fc.record({ t: fc.constant('varint' as const), no: noArb, v: uint64Arb }),
    fc.record({ t: fc.constant('fixed64' as const), no: noArb, b: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
    fc.record({ t: fc.constant('fixed32' as const), no: noArb, b: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
    fc.record({ t: fc.constant('len' as const), no: noArb, b: fc.uint8Array({ maxLength: 20 }) }),
  );
}

/** Unknown fields of every wire type; groups hold anything (known numbers included) two deep. */
function unknownArb(specs: FieldSpec[]): fc.Arbitrary<Entry> {
  const noArb = unknownNoArb(specs);
  const innerGroup = fc.record({ t: fc.constant('group' as const), no: anyNoArb, body: fc.array(leafArb(anyNoArb), { maxLength: 4 }) });
  const group = fc.record({
    t: fc.constant('group' as const),
    no: noArb,
    body: fc.array(fc.oneof(leafArb(anyNoArb), innerGroup), { maxLength: 4 }),
  });
  return fc.oneof(leafArb(noArb), group);
}

/** A known field written in its wire type with any 64-bit raw value and redundant varint bytes. */
function knownArb(specs: FieldSpec[]): fc.Arbitrary<Entry> {
  return fc.record({
    t: fc.constant('known' as const),
    spec: fc.constantFrom(...specs),
    raw: fc.oneof(uint64Arb, fc.bigInt({ min: 0n, max: 3n })),
    bytes: bytesArb,
    pad: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
  });
}

function encodingArb(specs: FieldSpec[]): fc.Arbitrary<Entry[]> {
  return fc.array(fc.oneof({ arbitrary: knownArb(specs), weight: 3 }, { arbitrary: unknownArb(specs), weight: 2 }), { maxLength: 25 });
}

// ---------------------------------------------------------------------------------------

const malformed = (err: unknown) => isJanusError(err, ErrorCode.PacketMalformed);

/** Calls `fn`; anything thrown must be JANUS_ERR_PACKET_MALFORMED. */
function returnsOrMalformed(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(malformed(err), `threw something other than JANUS_ERR_PACKET_MALFORMED: ${String(err)}`);
  }
}

interface Codec {
  name: string;
  specs: FieldSpec[];
  schema: DescMessage;
  arb: fc.Arbitrary<Fields>;
  encode(m: Fields): Uint8Array;
  decode(b: Uint8Array): object;
}

const CODECS: Codec[] = [
  {
    name: 'Packet (PROTOCOL.md 3)',
    specs: PACKET_FIELDS,
    schema: GeneratedPacketSchema,
    arb: packetArb as unknown as fc.Arbitrary<Fields>,
    encode: (m) => encodePacket(m as unknown as Packet),
    decode: decodePacket,
  },
  {
    name: 'TunnelRequest (PROTOCOL.md 9)',
    specs: TUNNEL_FIELDS,
    schema: PlayerTunnelRequestSchema,
    arb: tunnelArb as unknown as fc.Arbitrary<Fields>,
    encode: (m) => encodeTunnelMessage(m as unknown as TunnelMessage),
    decode: decodeTunnelMessage,
  },
];

for (const c of CODECS) {
  describe(`${c.name}: hand-written codec vs the generated one`, () => {
    it('encodes byte for byte like toBinary(create(...)) and round-trips', () => {
      fc.assert(
        fc.property(c.arb, (m) => {
          const ours = c.encode(m);
          const theirs = toBinary(c.schema, create(c.schema, m as never));
          assert.equal(toHex(ours), toHex(theirs));
          assert.deepEqual(pick(c.specs, c.decode(ours)), pick(c.specs, m));
        }),
        { numRuns: 1000 },
      );
    });

    it('decodes any valid encoding like the generated decoder (order, last-wins, unknown fields, padded varints)', () => {
      fc.assert(
        fc.property(encodingArb(c.specs), (entries) => {
          const bytes = writeEntries(entries);
          const expected = expectedFields(c.specs, entries);
          const generated = pick(c.specs, fromBinary(c.schema, bytes));
          assert.deepEqual(generated, pick(c.specs, expected), 'the test model agrees with the generated decoder');
          if (c.schema === GeneratedPacketSchema && expected.mod === 1 && expected.compress === true) {
            assert.throws(() => c.decode(bytes), malformed);
            return;
          }
          assert.deepEqual(pick(c.specs, c.decode(bytes)), generated);
        }),
        { numRuns: 1000 },
      );
    });

    it('rejects every truncation that cuts a field (and accepts cuts between fields)', () => {
      fc.assert(
        fc.property(c.arb, (m) => {
          // The canonical encoding is the concatenation of each non-default field alone.
          const bounds = new Set<number>([0]);
          let at = 0;
          for (const s of c.specs) {
            const alone = c.encode({ ...defaults(c.specs), [s.name]: m[s.name] });
            at += alone.length;
            bounds.add(at);
          }
          const full = c.encode(m);
          assert.equal(at, full.length);
          for (let cut = 0; cut < full.length; cut++) {
            const prefix = full.slice(0, cut);
            if (bounds.has(cut)) c.decode(prefix);
            else assert.throws(() => c.decode(prefix), malformed, `cut at ${cut} of ${full.length}`);
          }
        }),
        { numRuns: 200 },
      );
    });

    it('fuzz: random bytes decode or throw JANUS_ERR_PACKET_MALFORMED, nothing else', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          returnsOrMalformed(() => c.decode(bytes));
        }),
        { numRuns: fuzzRuns(3000) },
      );
    });

    it('fuzz: mutated valid encodings decode or throw JANUS_ERR_PACKET_MALFORMED', () => {
      fc.assert(
        fc.property(
          encodingArb(c.specs),
          fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }),
          (entries, flips) => {
            const bytes = writeEntries(entries);
            if (bytes.length === 0) return;
            for (const f of flips) bytes[f.at % bytes.length]! ^= f.xor;
            returnsOrMalformed(() => c.decode(bytes));
          },
        ),
        { numRuns: fuzzRuns(2000) },
      );
    });

    it('rejects a known field with a wrong wire type', () => {
      const payloads: Record<number, number[]> = { 0: [0x01], 1: [1, 2, 3, 4, 5, 6, 7, 8], 2: [0x01, 0x00], 5: [1, 2, 3, 4] };
      for (const s of c.specs) {
        const right = s.kind === 'bytes' ? 2 : 0;
        for (const wt of [0, 1, 2, 5]) {
          if (wt === right) continue;
          const bytes = Uint8Array.from([...tag(s.no, wt), ...payloads[wt]!]);
          assert.throws(() => c.decode(bytes), malformed, `field ${s.no} as wire type ${wt}`);
        }
        const group = Uint8Array.from([...tag(s.no, 3), ...tag(s.no, 4)]);
        assert.throws(() => c.decode(group), malformed, `field ${s.no} as a group`);
        // The same field in its right wire type decodes: the wire type alone is at fault.
        c.decode(Uint8Array.from([...tag(s.no, right), ...payloads[right]!]));
      }
    });

    it('rejects field number 0, at the top level and inside a group', () => {
      assert.throws(() => c.decode(Uint8Array.from([0x00, 0x00])), malformed);
      assert.throws(() => c.decode(Uint8Array.from([0x02, 0x00])), malformed);
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 3), 0x00, 0x00, ...tag(30, 4)])), malformed);
    });

    it('rejects wire types 6 and 7, a stray end-group, a mismatched or unterminated group', () => {
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 6), 0x00])), malformed);
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 7), 0x00])), malformed);
      assert.throws(() => c.decode(Uint8Array.from(tag(30, 4))), malformed);
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 3), ...tag(31, 4)])), malformed);
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 3), ...tag(31, 0), 0x05])), malformed);
    });

    it(`accepts groups nested ${MAX_GROUP_DEPTH} deep and rejects deeper ones typed (no stack overflow)`, () => {
      const nested = (depth: number) => Uint8Array.from([...Array(depth).fill(tag(30, 3)).flat(), ...Array(depth).fill(tag(30, 4)).flat()]);
      assert.deepEqual(pick(c.specs, c.decode(nested(MAX_GROUP_DEPTH))), pick(c.specs, defaults(c.specs)));
      assert.throws(() => c.decode(nested(MAX_GROUP_DEPTH + 1)), malformed);
      assert.throws(() => c.decode(new Uint8Array(65536).fill(tag(12, 3)[0]!)), malformed);
    });

    it('rejects over-long varints (values, lengths and tags)', () => {
      const eleven = [...Array(10).fill(0x80), 0x00];
      assert.throws(() => c.decode(Uint8Array.from([...tag(4, 0), ...eleven])), malformed, 'an 11-byte value');
      assert.throws(() => c.decode(Uint8Array.from([...tag(2, 0), ...Array(10).fill(0xff)])), malformed, 'a 10th byte with its continuation bit');
      assert.throws(() => c.decode(Uint8Array.from([...tag(1, 2), ...varint(2n ** 32n)])), malformed, 'a length over 32 bits');
      assert.throws(() => c.decode(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00])), malformed, 'a tag over 32 bits');
      // Ten bytes is the most a varint may take: it still decodes.
      const ten = paddedVarint(5n, 9);
      assert.equal(ten.length, 10);
      assert.equal((c.decode(Uint8Array.from([...tag(4, 0), ...ten])) as { mod: number }).mod, 5);
    });

    it('rejects a length-delimited field running past the end and truncated fixed fields', () => {
      assert.throws(() => c.decode(Uint8Array.from([...tag(1, 2), 0x05, 1, 2, 3])), malformed);
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 1), 1, 2, 3, 4, 5, 6, 7])), malformed);
      assert.throws(() => c.decode(Uint8Array.from([...tag(30, 5), 1, 2, 3])), malformed);
    });

    it('hands out data as a view into the input (no copy)', () => {
      const bytes = c.encode({ ...defaults(c.specs), data: Uint8Array.from([1, 2, 3]), mod: 3 });
      const data = (c.decode(bytes) as { data: Uint8Array }).data;
      assert.equal(data.buffer, bytes.buffer);
      assert.deepEqual([...data], [1, 2, 3]);
    });
  });
}

describe('Packet specifics (PROTOCOL.md 3)', () => {
  it('rejects mod 1 with compress, whatever the field order or bool encoding', () => {
    assert.throws(() => decodePacket(encodePacketUnchecked({ mod: 1, compress: true })), malformed);
    assert.throws(() => decodePacket(Uint8Array.from([...tag(20, 0), 0x01, ...tag(4, 0), 0x01])), malformed);
    assert.throws(() => decodePacket(Uint8Array.from([...tag(4, 0), 0x01, ...tag(20, 0), 0x02])), malformed);
    // compress cleared again later: valid
    assert.equal(decodePacket(Uint8Array.from([...tag(4, 0), 0x01, ...tag(20, 0), 0x01, ...tag(20, 0), 0x00])).compress, false);
  });

  it('accepts compress outside mod 1 and mod 1 without compress', () => {
    assert.equal(decodePacket(encodePacket(makePacket({ mod: 2, compress: true }))).compress, true);
    assert.equal(decodePacket(encodePacket(makePacket({ mod: 1, seq: 2 }))).mod, 1);
  });

  it('decodes an empty body to the all-default Packet, and encodes that to zero bytes', () => {
    assert.deepEqual(pick(PACKET_FIELDS, decodePacket(new Uint8Array(0))), pick(PACKET_FIELDS, makePacket({})));
    assert.equal(encodePacket(makePacket({})).length, 0);
  });

  it('packetSize is the encoded length, with the 10-byte negative int32 and int64 extremes', () => {
    const p = makePacket({ mod: -1, obj: I64_MIN, dataVersion: U64_MAX, index: 2 ** 31 - 1, compress: true });
    assert.equal(packetSize(p), encodePacket(p).length);
    assert.equal(packetSize(p), 11 + 11 + 11 + 6 + 3);
  });

  it('the generated TunnelResponse shares the TunnelRequest encoding', () => {
    fc.assert(
      fc.property(tunnelArb, (m) => {
        assert.equal(toHex(encodeTunnelMessage(m)), toHex(toBinary(PlayerTunnelResponseSchema, create(PlayerTunnelResponseSchema, m))));
      }),
      { numRuns: 200 },
    );
  });
});

/** Encodes through the generated codec (it does not enforce the mod 1 rule). */
function encodePacketUnchecked(fields: Partial<Packet>): Uint8Array {
  return toBinary(GeneratedPacketSchema, create(GeneratedPacketSchema, fields));
}
