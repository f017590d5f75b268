/**
 * Fuzz targets of the protocol package's parsers (docs/reliability.md "Fuzzing"): the frame
 * decoder (PROTOCOL.md 2), the Packet and tunnel decoders (3, 9) against the generated
 * codec on hostile bytes, handshake parsing on both sides (7.2-7.4) and token opening (6).
 * Each target holds two kinds of property: nothing but a typed JanusError is ever thrown,
 * and what is accepted is what an independent model (a reference decoder, the generated
 * codec, the signature) says may be accepted. CI-sized here; `npm run fuzz` for the long run.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fromBinary, type DescMessage } from '@bufbuild/protobuf';
import {
  acceptServerHello,
  base64UrlDecodeStrict,
  base64UrlEncode,
  checkClientHello,
  createClientHello,
  createServerHello,
  decodeClientHello,
  decodePacket,
  decodeTunnelMessage,
  encodeFrame,
  encodePacket,
  ErrorCode,
  FrameDecoder,
  GeneratedPacketSchema,
  openToken,
  PlayerTunnelRequestSchema,
  sealToken,
  AuthToken_Status,
  AuthTokenSchema,
  SCServerLogout_Code,
  TOKEN_AAD,
  type ClientHello,
  type ServerHandshakeConfig,
  type TokenFields,
} from '../src/index.js';
import { nodeCrypto } from '../src/node.js';
import { assertTyped, fuzzRuns, typedOrValue, typedOrValueAsync } from './support/fuzz.js';
import { ed25519Pem } from './support/keys.js';

// ---------------------------------------------------------------------------------------
// Mutations: small edits of a valid input, the way a fuzzer derives hostile ones.

type Edit =
  | { op: 'xor'; at: number; v: number }
  | { op: 'set'; at: number; v: number }
  | { op: 'cut'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'repeat'; at: number; n: number };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('xor' as const), at: fc.nat(), v: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x0b, 0x0c) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
);
const editsArb = fc.array(editArb, { minLength: 1, maxLength: 4 });

/** `bytes` with `edits` applied in order (positions taken modulo the current length). */
function mutate(bytes: Uint8Array, edits: Edit[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + (e.op === 'insert' ? 1 : 0));
    switch (e.op) {
      case 'xor':
        if (b.length) b[at]! ^= e.v;
        break;
      case 'set':
        if (b.length) b[at] = e.v;
        break;
      case 'cut':
        b = b.slice(0, at);
        break;
      case 'insert':
        b = Uint8Array.from([...b.subarray(0, at), ...e.bytes, ...b.subarray(at)]);
        break;
      case 'delete':
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + e.n)]);
        break;
      case 'repeat':
        b = Uint8Array.from([...b.subarray(0, at + e.n), ...b.subarray(at)]);
        break;
    }
  }
  return b;
}

/** Bytes shaped like protobuf (tags of small field numbers, every wire type, plausible payloads) plus noise. */
const protobufish: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 11 })).map(([no, wt, payload]) => {
        const tag = (no << 3) | wt;
        const head = tag < 0x80 ? [tag] : [(tag & 0x7f) | 0x80, tag >>> 7];
        // Length-delimited: a length that may or may not match the payload.
        const body = wt === 2 ? [payload.length ^ (payload[0] === 0 ? 1 : 0), ...payload] : [...payload];
        return [...head, ...body];
      }),
      fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => [...b]),
    ),
    { maxLength: 16 },
  )
  .map((parts) => Uint8Array.from(parts.flat()));

const hostileBytes = fc.oneof(fc.uint8Array({ maxLength: 200 }), protobufish);

// ---------------------------------------------------------------------------------------
// Frame decoder (PROTOCOL.md 2)

/** The reference: frames of a whole byte string, and the error the first bad prefix raises. */
function referenceFrames(stream: Uint8Array, max: number): { frames: string[]; error: string | null } {
  const frames: string[] = [];
  let at = 0;
  while (stream.length - at >= 4) {
    const len = ((stream[at]! << 24) | (stream[at + 1]! << 16) | (stream[at + 2]! << 8) | stream[at + 3]!) >>> 0;
    if (len === 0) return { frames, error: ErrorCode.FrameEmpty };
    if (len > max) return { frames, error: ErrorCode.FrameTooLarge };
    if (stream.length - at - 4 < len) break;
    frames.push(Buffer.from(stream.subarray(at + 4, at + 4 + len)).toString('hex'));
    at += 4 + len;
  }
  return { frames, error: null };
}

/** Cuts `stream` at the given points (taken modulo its length). */
function chunks(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (stream.length ? c % (stream.length + 1) : 0)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(prev, p));
    prev = p;
  }
  return out;
}

/** A stream of frames with small length prefixes, some 0 or over the limit, some bodies short. */
const frameStream = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => [...encodeFrame(b, 1 << 24)]) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 80 }).map((n) => [0, 0, n >>> 8, n & 0xff]) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => [...b]) },
    ),
    { maxLength: 12 },
  )
  .map((parts) => Uint8Array.from(parts.flat()));

describe('fuzz: frame decoder (PROTOCOL.md 2)', () => {
  it('on any byte stream cut into any reads: the reference frames, then at most the typed error of the first bad prefix', () => {
    fc.assert(
      fc.property(fc.oneof(frameStream, fc.uint8Array({ maxLength: 120 })), fc.array(fc.nat(), { maxLength: 10 }), fc.integer({ min: 1, max: 64 }), (stream, cuts, max) => {
        const want = referenceFrames(stream, max);
        const got: string[] = [];
        const d = new FrameDecoder(max, (b) => got.push(Buffer.from(b).toString('hex')));
        let error: string | null = null;
        for (const c of chunks(stream, cuts)) {
          try {
            d.push(c);
          } catch (err) {
            assertTyped(err, [ErrorCode.FrameEmpty, ErrorCode.FrameTooLarge], 'FrameDecoder.push');
            error = (err as { code: string }).code;
            break; // a connection reads nothing after a bad prefix
          }
        }
        assert.equal(error, want.error);
        assert.deepEqual(got, want.frames);
        if (error === null) {
          // bufferedBytes counts the bytes held: a partial prefix, or the body read so far
          // once the prefix is complete (the prefix itself is then a number, not bytes).
          const rest = stream.length - want.frames.reduce((n, f) => n + 4 + f.length / 2, 0);
          assert.equal(d.bufferedBytes, rest >= 4 ? rest - 4 : rest, 'bufferedBytes');
        }
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });
});

// ---------------------------------------------------------------------------------------
// Packet and tunnel decoders (PROTOCOL.md 3, 9) against the generated codec

const PACKET_KEYS = ['data', 'dataVersion', 'obj', 'mod', 'seq', 'ver', 'index', 'connId', 'fragId', 'fragCount', 'fragIndex', 'compress'] as const;
const TUNNEL_KEYS = ['data', 'dataVersion', 'obj', 'mod', 'seq', 'index', 'connId', 'fragId', 'fragCount', 'fragIndex', 'ver'] as const;

function pick(keys: readonly string[], m: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (m as Record<string, unknown>)[k];
    out[k] = v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;
  }
  return out;
}

interface DecoderTarget {
  name: string;
  keys: readonly string[];
  schema: DescMessage;
  decode(b: Uint8Array): object;
  /** Inputs the generated codec accepts that PROTOCOL.md makes malformed for ours. */
  contractRejects(generated: Record<string, unknown>): boolean;
  valid: fc.Arbitrary<Uint8Array>;
}

const int32 = fc.oneof(fc.constantFrom(0, 1, -1, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const DECODERS: DecoderTarget[] = [
  {
    name: 'decodePacket',
    keys: PACKET_KEYS,
    schema: GeneratedPacketSchema,
    decode: decodePacket,
    // PROTOCOL.md 3: a Packet with mod 1 and compress true is malformed.
    contractRejects: (g) => g.mod === 1 && g.compress === true,
    valid: fc
      .record({ data: fc.uint8Array({ maxLength: 40 }), obj: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), mod: int32, seq: int32, index: int32, compress: fc.boolean() })
      .map((f) => encodePacket({ ...f, dataVersion: 0n, ver: 0, connId: 0, fragId: 0, fragCount: 0, fragIndex: 0, compress: f.compress && f.mod !== 1 })),
  },
  {
    name: 'decodeTunnelMessage',
    keys: TUNNEL_KEYS,
    schema: PlayerTunnelRequestSchema,
    decode: decodeTunnelMessage,
    contractRejects: () => false,
    valid: fc
      .record({ data: fc.uint8Array({ maxLength: 40 }), obj: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), mod: int32, seq: int32, index: int32 })
      .map((f) => encodePacket({ ...f, dataVersion: 0n, ver: 0, connId: 0, fragId: 0, fragCount: 0, fragIndex: 0, compress: false })),
  },
];

for (const t of DECODERS) {
  describe(`fuzz: ${t.name} vs the generated codec`, () => {
    /** The decoder accepts exactly what the generated codec accepts (minus the contract's own rule), with the same fields. */
    const agrees = (bytes: Uint8Array): void => {
      let generated: Record<string, unknown> | null = null;
      let generatedError = '';
      try {
        generated = pick(t.keys, fromBinary(t.schema, bytes));
      } catch (err) {
        generated = null;
        generatedError = (err as Error).message;
      }
      let rejection = '';
      const ours = typedOrValue(
        () => {
          try {
            return t.decode(bytes);
          } catch (err) {
            rejection = (err as Error).message;
            throw err;
          }
        },
        [ErrorCode.PacketMalformed],
        t.name,
      );
      const hex = Buffer.from(bytes).toString('hex');
      if (generated === null && /varint overflows uint32/.test(generatedError)) {
        // The generated codec's one strictness over ours, found by the long run: it refuses
        // a tag varint of more than 5 bytes even when its value fits 32 bits (zero groups
        // padding it, as in 0x80 0x81 0x80 0x80 0x80 0x00). Ours reads such a tag, as both
        // read a padded length; either outcome is typed, there is nothing to compare.
        return;
      }
      if (generated === null || t.contractRejects(generated)) {
        assert.equal(ours, undefined, `${t.name} accepted ${hex}, which the generated codec or PROTOCOL.md rejects`);
      } else if (ours === undefined) {
        // The generated codec's leniencies, found by this target: it reads a known field by
        // its declared type whatever the wire type says; it skips an unknown varint of any
        // length; it truncates a length or tag varint to 32 bits. None is a valid encoding
        // (protobuf: varints of at most 10 bytes, lengths and tags of 32 bits), and ours
        // rejects each typed (docs/errors.md). Any other divergence fails.
        assert.match(
          rejection,
          / has wire type |varint longer than 10 bytes|varint over 32 bits/,
          `${t.name} rejected ${hex} (${rejection}), which the generated codec decodes`,
        );
      } else {
        assert.deepEqual(pick(t.keys, ours), generated, hex);
      }
    };

    it('hostile bytes: typed rejection exactly where the generated codec rejects, the same fields elsewhere', () => {
      fc.assert(fc.property(hostileBytes, agrees), { numRuns: fuzzRuns(5000) });
    });

    it('mutated valid encodings: the same', () => {
      fc.assert(fc.property(t.valid, editsArb, (valid, edits) => agrees(mutate(valid, edits))), { numRuns: fuzzRuns(5000) });
    });
  });
}

// ---------------------------------------------------------------------------------------
// Handshake parsing (PROTOCOL.md 7.2-7.4)

const NOW = 1_767_225_600;

const CLIENT = ed25519Pem();
const SERVER = ed25519Pem();
const serverCfg: ServerHandshakeConfig = {
  crypto: nodeCrypto,
  encrypted: true,
  clientKeys: new Map([[1, nodeCrypto.importVerifyKey(CLIENT.pub)]]),
  serverKeys: new Map([[1, nodeCrypto.importSigningKey(SERVER.priv)]]),
  handshakeSkew: 300,
};
const clientKey = nodeCrypto.importSigningKey(CLIENT.priv);
const pins = new Map([[1, nodeCrypto.importVerifyKey(SERVER.pub)]]);

async function validHello(): Promise<ClientHello> {
  return createClientHello({ crypto: nodeCrypto, clientKey, certVersion: 1, serverId: 5n, serverCertVersion: 0, timestamp: BigInt(NOW) });
}

const LOGOUT_CODES = new Set<number>([SCServerLogout_Code.BadVersion, SCServerLogout_Code.Unauthorized, SCServerLogout_Code.ClockSkew]);

describe('fuzz: handshake parsing', () => {
  it('gateway side: a hostile or mutated first frame decodes typed, checks to a ServerLogout code, and passes only with the signed fields intact', async () => {
    const hello = await validHello();
    const original = decodeClientHello(hello.body);
    let passed = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, editsArb.map((e) => mutate(hello.body, e))), async (body) => {
        const hs = typedOrValue(() => decodeClientHello(body), [ErrorCode.PacketMalformed, ErrorCode.UnexpectedMessage], 'decodeClientHello');
        if (!hs) return;
        const code = await checkClientHello(serverCfg, hs, NOW);
        if (code !== null) {
          assert.ok(LOGOUT_CODES.has(code), `checkClientHello returned ${code}`);
          return;
        }
        // Passed: the signature binds pub, timestamp and server_id (PROTOCOL.md 7.1).
        passed++;
        assert.deepEqual([Buffer.from(hs.pub).toString('hex'), hs.timestamp, hs.serverId, hs.certVersion, hs.token], [
          Buffer.from(original.pub).toString('hex'),
          original.timestamp,
          original.serverId,
          1,
          '',
        ]);
        await typedOrValueAsync(() => createServerHello(serverCfg, { csBody: body, hs, timestamp: BigInt(NOW) }), [ErrorCode.HandshakeZeroShared], 'createServerHello');
      }),
      // The unmutated frame first, so the accepting path is always run (mutations that keep
      // a frame valid are rare: in a CI-sized run some seeds draw none).
      { numRuns: fuzzRuns(1500), examples: [[hello.body]] },
    );
    assert.ok(passed > 0, 'no CSHandshake passed: the target does not reach the accepting path');
  });

  it('client side: a hostile or mutated SCHandshake is refused typed, or accepted with the signed start_index, key version and keys', async () => {
    const hello = await validHello();
    const hs = decodeClientHello(hello.body);
    const sh = await createServerHello(serverCfg, { csBody: hello.body, hs, timestamp: BigInt(NOW) });
    const want = await acceptServerHello(nodeCrypto, hello, sh.body, pins);
    const codes = [ErrorCode.PacketMalformed, ErrorCode.HandshakeInvalid, ErrorCode.HandshakeZeroShared, ErrorCode.Logout];
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, editsArb.map((e) => mutate(sh.body, e))), async (body) => {
        const got = await typedOrValueAsync(() => acceptServerHello(nodeCrypto, hello, body, pins), codes, 'acceptServerHello');
        if (!got) return;
        accepted++;
        assert.deepEqual([got.startIndex, got.certVersion, got.version], [want.startIndex, want.certVersion, want.version]);
        assert.deepEqual(got.keys, want.keys);
      }),
      { numRuns: fuzzRuns(1500), examples: [[sh.body]] },
    );
    assert.ok(accepted > 0, 'no SCHandshake was accepted: the target does not reach the accepting path');
  });
});

// ---------------------------------------------------------------------------------------
// Token opening (PROTOCOL.md 6)

const TOKEN_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
const TOKEN_FIELDS: TokenFields = {
  rand: 'r',
  color: 'blue',
  accountId: 10_001n,
  serverId: 7n,
  timeout: BigInt(NOW + 3600),
  location: 3,
  status: AuthToken_Status.GATE,
};
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const tokenChar = fc.constantFrom(...B64URL, '=', '+', '/', ' ', '\n', '.', 'é');
const TOKEN_CODES = [ErrorCode.TokenMalformed, ErrorCode.TokenInvalid, ErrorCode.TokenExpired];

type CharEdit = { op: 'set' | 'insert'; at: number; c: string } | { op: 'delete'; at: number };
const charEdit: fc.Arbitrary<CharEdit> = fc.oneof(
  fc.record({ op: fc.constantFrom('set' as const, 'insert' as const), at: fc.nat(), c: tokenChar }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
);

function editString(s: string, edits: CharEdit[]): string {
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % (s.length + 1);
    if (e.op === 'insert') s = s.slice(0, at) + e.c + s.slice(at);
    else if (e.op === 'set') s = s.slice(0, at) + e.c + s.slice(at + 1);
    else s = s.slice(0, at) + s.slice(at + 1);
  }
  return s;
}

describe('fuzz: token opening', () => {
  it('hostile strings are refused as JANUS_ERR_TOKEN_MALFORMED', async () => {
    const strings = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.array(tokenChar, { maxLength: 120 }).map((cs) => cs.join('')),
      fc.uint8Array({ maxLength: 90 }).map(base64UrlEncode),
    );
    await fc.assert(
      fc.asyncProperty(strings, async (s) => {
        const got = await typedOrValueAsync(() => openToken(nodeCrypto, [TOKEN_KEY], s, NOW), [ErrorCode.TokenMalformed], 'openToken');
        assert.equal(got, undefined, `opened ${JSON.stringify(s)}`);
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });

  it('a mutated valid token is refused typed, or opens to the same fields (only unused bits of the last character changed)', async () => {
    const token = await sealToken(nodeCrypto, TOKEN_KEY, TOKEN_FIELDS);
    await fc.assert(
      fc.asyncProperty(fc.array(charEdit, { minLength: 1, maxLength: 3 }), async (edits) => {
        const s = editString(token, edits);
        const got = await typedOrValueAsync(() => openToken(nodeCrypto, [TOKEN_KEY], s, NOW), TOKEN_CODES, 'openToken');
        if (got) assert.deepEqual(got, TOKEN_FIELDS, `${JSON.stringify(s)} opened to other fields`);
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });

  it('an authentic token around any plaintext is refused typed, or opens to what the generated AuthToken decoder reads', async () => {
    const aead = nodeCrypto.aeadKey(TOKEN_KEY);
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, fc.uint8Array({ maxLength: 60 })), fc.uint8Array({ minLength: 12, maxLength: 12 }), async (plain, nonce) => {
        const token = base64UrlEncode(Uint8Array.from([...nonce, ...aead.seal(nonce, TOKEN_AAD, plain)]));
        const got = await typedOrValueAsync(() => openToken(nodeCrypto, [TOKEN_KEY], token, NOW), TOKEN_CODES, 'openToken');
        let generated;
        try {
          generated = fromBinary(AuthTokenSchema, plain);
        } catch {
          assert.equal(got, undefined, 'opened a plaintext the generated decoder rejects');
          return;
        }
        if (got) assert.deepEqual([got.accountId, got.serverId, got.timeout, got.color], [generated.accountId, generated.serverId, generated.timeout, generated.color]);
        else assert.ok(generated.accountId <= 0n || generated.timeout <= BigInt(NOW), 'refused a valid AuthToken');
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });

  it('base64UrlDecodeStrict accepts exactly the strict base64url strings, decoding like Buffer', () => {
    const strict = fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.boolean()).map(([b, pad]) => {
      const s = base64UrlEncode(b);
      return pad && s.length % 4 !== 0 ? s + '='.repeat(4 - (s.length % 4)) : s;
    });
    fc.assert(
      fc.property(fc.oneof(strict, fc.array(tokenChar, { maxLength: 40 }).map((cs) => cs.join(''))), (s) => {
        const got = typedOrValue(() => base64UrlDecodeStrict(s), [ErrorCode.TokenMalformed], 'base64UrlDecodeStrict');
        const body = s.replace(/=+$/, '');
        const pad = s.length - body.length;
        const valid = /^[A-Za-z0-9_-]*$/.test(body) && body.length % 4 !== 1 && (pad === 0 || (body.length % 4 !== 0 && pad === 4 - (body.length % 4)));
        assert.equal(got !== undefined, valid, JSON.stringify(s));
        if (got) assert.equal(Buffer.from(got).toString('hex'), Buffer.from(body, 'base64url').toString('hex'));
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
});
