/**
 * The handshake, PROTOCOL.md 7.1-7.4: the gateway's checks in their order (7.2), the first
 * frame's decoding, full handshakes with fresh keys on both back ends and mixed, and the
 * client's checks of the answer (7.4).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  acceptServerHello,
  checkClientHello,
  clientSignatureInput,
  createClientHello,
  createServerHello,
  CSHandshakeSchema,
  decodeClientHello,
  decodePacket,
  encodePacket,
  ErrorCode,
  isJanusError,
  makePacket,
  MAX_START_INDEX,
  pickServerCertVersion,
  randomStartIndex,
  RecordOpener,
  RecordSealer,
  SCHandshakeSchema,
  SCServerLogout_Code,
  serverLogoutPacket,
  serverSignatureInput,
  SystemSeq,
  toHex,
  utf8,
  webCrypto,
  type ClientHello,
  type CryptoBackend,
  type CSHandshake,
  type ErrorCodeValue,
  type SCHandshake,
  type ServerHandshakeConfig,
  type SessionKeys,
  type SigningKey,
  type VerifyKey,
} from '../src/index.js';
import { nodeCrypto } from '../src/node.js';
import { ed25519Pem } from './support/keys.js';

const NOW = 1_767_225_600;
const SKEW = 300;
const is = (code: ErrorCodeValue) => (err: unknown) => isJanusError(err, code);

const CLIENT_V1 = ed25519Pem();
const SERVER_V1 = ed25519Pem();
const SERVER_V2 = ed25519Pem();

interface Parties {
  crypto: CryptoBackend;
  clientKey: SigningKey;
  cfg: ServerHandshakeConfig;
  plainCfg: ServerHandshakeConfig;
  /** The server keys as a client pins them. */
  pinned: Map<number, VerifyKey>;
}

async function parties(crypto: CryptoBackend): Promise<Parties> {
  const cfg: ServerHandshakeConfig = {
    crypto,
    encrypted: true,
    clientKeys: new Map([[1, await crypto.importVerifyKey(CLIENT_V1.pub)]]),
    serverKeys: new Map([
      [1, await crypto.importSigningKey(SERVER_V1.priv)],
      [2, await crypto.importSigningKey(SERVER_V2.priv)],
    ]),
    handshakeSkew: SKEW,
  };
  return {
    crypto,
    clientKey: await crypto.importSigningKey(CLIENT_V1.priv),
    cfg,
    plainCfg: { ...cfg, encrypted: false },
    pinned: new Map([
      [1, await crypto.importVerifyKey(SERVER_V1.pub)],
      [2, await crypto.importVerifyKey(SERVER_V2.pub)],
    ]),
  };
}

/** The faults a CSHandshake can carry, in the order PROTOCOL.md 7.2 checks them. */
const FAULTS = [
  ['version', SCServerLogout_Code.BadVersion],
  ['token', SCServerLogout_Code.Unauthorized],
  ['pub31', SCServerLogout_Code.Unauthorized],
  ['sign63', SCServerLogout_Code.Unauthorized],
  ['certVersion', SCServerLogout_Code.Unauthorized],
  ['badSig', SCServerLogout_Code.Unauthorized],
  ['serverCert', SCServerLogout_Code.BadVersion],
  ['skew', SCServerLogout_Code.ClockSkew],
] as const;
type Fault = (typeof FAULTS)[number][0];
/** Checks plaintext mode skips. */
const CRYPTO_FAULTS: ReadonlySet<Fault> = new Set(['pub31', 'sign63', 'certVersion', 'badSig']);

/** A CSHandshake, correctly signed except for the faults asked for. */
async function csHandshake(p: Parties, faults: ReadonlySet<Fault> = new Set(), over: Partial<CSHandshake> = {}): Promise<CSHandshake> {
  const eph = await p.crypto.x25519Generate();
  const pub = over.pub ?? (faults.has('pub31') ? eph.publicKey.subarray(0, 31) : eph.publicKey);
  const timestamp = over.timestamp ?? BigInt(faults.has('skew') ? NOW + SKEW + 1 : NOW);
  const serverId = over.serverId ?? 5n;
  let sign = Uint8Array.from(await p.crypto.ed25519Sign(p.clientKey, clientSignatureInput(pub, timestamp, serverId)));
  if (faults.has('badSig')) sign[10]! ^= 0x01;
  if (faults.has('sign63')) sign = sign.subarray(0, 63);
  return create(CSHandshakeSchema, {
    pub,
    sign,
    token: faults.has('token') ? 'a-token' : '',
    serverId,
    timestamp,
    certVersion: faults.has('certVersion') ? 9 : 1,
    serverCertVersion: faults.has('serverCert') ? 3 : 0,
    version: faults.has('version') ? 2 : 1,
    ...over,
  });
}

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let mask = 0; mask < 1 << items.length; mask++) out.push(items.filter((_, i) => mask & (1 << i)));
  return out;
}

for (const crypto of [nodeCrypto, webCrypto] as CryptoBackend[]) {
  describe(`checkClientHello with the ${crypto.name} back end (PROTOCOL.md 7.2)`, async () => {
    const p = await parties(crypto);
    const check = async (hs: CSHandshake, cfg = p.cfg, now = NOW) => checkClientHello(cfg, hs, now);

    it('passes a correct CSHandshake; version 0 means 1', async () => {
      assert.equal(await check(await csHandshake(p)), null);
      assert.equal(await check(await csHandshake(p, new Set(), { version: 0 })), null);
    });

    it('version 2: BadVersion', async () => {
      assert.equal(await check(await csHandshake(p, new Set(['version']))), SCServerLogout_Code.BadVersion);
    });

    it('a non-empty token: Unauthorized', async () => {
      assert.equal(await check(await csHandshake(p, new Set(['token']))), SCServerLogout_Code.Unauthorized);
    });

    it('pub of 31 or 33 bytes, sign of 63 or 65 bytes (otherwise correctly signed): Unauthorized', async () => {
      assert.equal(await check(await csHandshake(p, new Set(['pub31']))), SCServerLogout_Code.Unauthorized);
      const pub33 = Uint8Array.from([...(await crypto.x25519Generate()).publicKey, 0]);
      assert.equal(await check(await csHandshake(p, new Set(), { pub: pub33 })), SCServerLogout_Code.Unauthorized);
      assert.equal(await check(await csHandshake(p, new Set(['sign63']))), SCServerLogout_Code.Unauthorized);
      const hs = await csHandshake(p);
      assert.equal(await check({ ...hs, sign: Uint8Array.from([...hs.sign, 0]) }), SCServerLogout_Code.Unauthorized);
    });

    it('an unknown cert_version: Unauthorized', async () => {
      assert.equal(await check(await csHandshake(p, new Set(['certVersion']))), SCServerLogout_Code.Unauthorized);
    });

    it('a bad signature, or one over another timestamp or server_id: Unauthorized', async () => {
      assert.equal(await check(await csHandshake(p, new Set(['badSig']))), SCServerLogout_Code.Unauthorized);
      const hs = await csHandshake(p);
      assert.equal(await check({ ...hs, timestamp: hs.timestamp + 1n }), SCServerLogout_Code.Unauthorized);
      assert.equal(await check({ ...hs, serverId: hs.serverId + 1n }), SCServerLogout_Code.Unauthorized);
      const otherPub = (await crypto.x25519Generate()).publicKey;
      assert.equal(await check({ ...hs, pub: otherPub }), SCServerLogout_Code.Unauthorized);
    });

    it('server_cert_version not held: BadVersion; a held one or 0 passes', async () => {
      assert.equal(await check(await csHandshake(p, new Set(['serverCert']))), SCServerLogout_Code.BadVersion);
      assert.equal(await check(await csHandshake(p, new Set(), { serverCertVersion: 2 })), null);
      assert.equal(await check(await csHandshake(p, new Set(), { serverCertVersion: 1 })), null);
    });

    it('|timestamp - now| = skew passes, skew + 1 is ClockSkew (both directions)', async () => {
      for (const [delta, want] of [
        [SKEW, null],
        [-SKEW, null],
        [SKEW + 1, SCServerLogout_Code.ClockSkew],
        [-SKEW - 1, SCServerLogout_Code.ClockSkew],
      ] as const) {
        assert.equal(await check(await csHandshake(p, new Set(), { timestamp: BigInt(NOW + delta) })), want, `delta ${delta}`);
      }
      // a fractional now counts its whole second
      assert.equal(await check(await csHandshake(p, new Set(), { timestamp: BigInt(NOW + SKEW) }), p.cfg, NOW + 0.9), null);
    });

    it('plaintext mode skips pub, sign and cert_version but keeps the other checks', async () => {
      const bare = create(CSHandshakeSchema, { timestamp: BigInt(NOW), certVersion: 77, version: 1 });
      assert.equal(await check(bare, p.plainCfg), null);
      for (const f of ['pub31', 'sign63', 'certVersion', 'badSig'] as const) {
        assert.equal(await check(await csHandshake(p, new Set([f])), p.plainCfg), null, f);
      }
      assert.equal(await check({ ...bare, version: 2 }, p.plainCfg), SCServerLogout_Code.BadVersion);
      assert.equal(await check({ ...bare, token: 'x' }, p.plainCfg), SCServerLogout_Code.Unauthorized);
      assert.equal(await check({ ...bare, serverCertVersion: 3 }, p.plainCfg), SCServerLogout_Code.BadVersion);
      assert.equal(await check({ ...bare, timestamp: BigInt(NOW - SKEW - 1) }, p.plainCfg), SCServerLogout_Code.ClockSkew);
    });

    it('the first failing check decides, for every combination of faults', async () => {
      // e.g. version 2 AND a bad signature: BadVersion; a bad signature AND a clock skew: Unauthorized
      const names = FAULTS.map(([f]) => f);
      for (const combo of subsets(names)) {
        const faults = new Set(combo);
        const hs = await csHandshake(p, faults);
        const first = FAULTS.find(([f]) => faults.has(f));
        assert.equal(await check(hs), first ? first[1] : null, `encrypted, faults: ${combo.join(', ') || 'none'}`);
        const firstPlain = FAULTS.find(([f]) => faults.has(f) && !CRYPTO_FAULTS.has(f));
        assert.equal(await check(hs, p.plainCfg), firstPlain ? firstPlain[1] : null, `plaintext, faults: ${combo.join(', ') || 'none'}`);
      }
    });
  });
}

describe('decodeClientHello (PROTOCOL.md 7.2: close at once, nothing sent)', async () => {
  const p = await parties(nodeCrypto);
  const hello = await createClientHello({
    crypto: nodeCrypto,
    clientKey: p.clientKey,
    certVersion: 1,
    serverId: 42n,
    serverCertVersion: 2,
    timestamp: BigInt(NOW),
  });

  it('decodes the CSHandshake of a Packet{mod=1, seq=1}', () => {
    const hs = decodeClientHello(hello.body);
    assert.equal(hs.serverId, 42n);
    assert.equal(hs.serverCertVersion, 2);
    assert.equal(hs.certVersion, 1);
    assert.equal(hs.version, 1);
    assert.equal(hs.timestamp, BigInt(NOW));
    assert.equal(hs.pub.length, 32);
    assert.equal(hs.sign.length, 64);
  });

  it('rejects a Packet with mod != 1 or seq != 1 (JANUS_ERR_UNEXPECTED_MESSAGE)', () => {
    const data = decodePacket(hello.body).data;
    for (const [mod, seq] of [
      [2, 1],
      [1, 2],
      [1, 5],
      [0, 0],
    ]) {
      assert.throws(() => decodeClientHello(encodePacket(makePacket({ mod, seq, data }))), is(ErrorCode.UnexpectedMessage), `mod ${mod} seq ${seq}`);
    }
  });

  it('rejects a garbage body and a garbage CSHandshake (JANUS_ERR_PACKET_MALFORMED)', () => {
    assert.throws(() => decodeClientHello(Uint8Array.from([0xff, 0xff, 0xff])), is(ErrorCode.PacketMalformed));
    assert.throws(() => decodeClientHello(hello.body.subarray(0, hello.body.length - 1)), is(ErrorCode.PacketMalformed));
    const badData = encodePacket(makePacket({ mod: 1, seq: 1, data: Uint8Array.from([0x0a, 0x7f]) }));
    assert.throws(() => decodeClientHello(badData), is(ErrorCode.PacketMalformed));
  });
});

// ---------------------------------------------------------------------------------------
// Full handshakes

interface Run {
  client: Parties;
  server: Parties;
  hello: ClientHello;
  scBody: Uint8Array;
  serverKeys: SessionKeys | null;
}

async function runHandshake(server: Parties, client: Parties, encrypted = true, serverCertVersion = 0): Promise<Run> {
  const hello = await createClientHello({
    crypto: client.crypto,
    clientKey: encrypted ? client.clientKey : null,
    certVersion: 1,
    serverId: 0n,
    serverCertVersion,
    timestamp: BigInt(NOW),
  });
  const cfg = encrypted ? server.cfg : server.plainCfg;
  const hs = decodeClientHello(hello.body);
  assert.equal(await checkClientHello(cfg, hs, NOW + 2), null);
  const sh = await createServerHello(cfg, { csBody: hello.body, hs, timestamp: BigInt(NOW + 1) });
  return { client, server, hello, scBody: sh.body, serverKeys: sh.keys };
}

function keysHex(k: SessionKeys | null): Record<string, string> | null {
  return k && { c2sKey: toHex(k.c2sKey), s2cKey: toHex(k.s2cKey), c2sIv: toHex(k.c2sIv), s2cIv: toHex(k.s2cIv) };
}

const COMBOS: [CryptoBackend, CryptoBackend][] = [
  [nodeCrypto, nodeCrypto],
  [webCrypto, webCrypto],
  [nodeCrypto, webCrypto],
  [webCrypto, nodeCrypto],
];

for (const [serverCrypto, clientCrypto] of COMBOS) {
  describe(`full handshake: ${serverCrypto.name} server, ${clientCrypto.name} client (PROTOCOL.md 7.1-7.5)`, async () => {
    const server = await parties(serverCrypto);
    const client = await parties(clientCrypto);

    it('both sides derive equal session keys, and records cross in both directions', async () => {
      const run = await runHandshake(server, client);
      const res = await acceptServerHello(clientCrypto, run.hello, run.scBody, client.pinned);
      assert.ok(res.keys && run.serverKeys);
      assert.deepEqual(keysHex(res.keys), keysHex(run.serverKeys));
      assert.equal(res.keys.c2sKey.length, 32);
      assert.equal(res.keys.c2sIv.length, 12);
      assert.notEqual(toHex(res.keys.c2sKey), toHex(res.keys.s2cKey));
      assert.equal(res.certVersion, 2, 'server_cert_version 0: the newest server key signs');
      assert.equal(res.version, 1);
      assert.equal(res.peerTimestamp, BigInt(NOW + 1));
      assert.ok(res.startIndex >= 1 && res.startIndex <= MAX_START_INDEX);

      const c2s = new RecordSealer(await clientCrypto.aeadKey(res.keys.c2sKey), res.keys.c2sIv);
      const c2sOpen = new RecordOpener(await serverCrypto.aeadKey(run.serverKeys.c2sKey), run.serverKeys.c2sIv);
      const s2c = new RecordSealer(await serverCrypto.aeadKey(run.serverKeys.s2cKey), run.serverKeys.s2cIv);
      const s2cOpen = new RecordOpener(await clientCrypto.aeadKey(res.keys.s2cKey), res.keys.s2cIv);
      for (let i = 0; i < 3; i++) {
        assert.equal(toHex(await c2sOpen.open(await c2s.seal(utf8(`up ${i}`)))), toHex(utf8(`up ${i}`)));
        assert.equal(toHex(await s2cOpen.open(await s2c.seal(utf8(`down ${i}`)))), toHex(utf8(`down ${i}`)));
      }
    });

    it('a pinned server_cert_version is the one that signs', async () => {
      const run = await runHandshake(server, client, true, 1);
      const res = await acceptServerHello(clientCrypto, run.hello, run.scBody, client.pinned);
      assert.equal(res.certVersion, 1);
      assert.deepEqual(keysHex(res.keys), keysHex(run.serverKeys));
    });

    it('plaintext mode: no keys on either side, the same start_index', async () => {
      const run = await runHandshake(server, client, false);
      const sc = fromBinary(SCHandshakeSchema, decodePacket(run.scBody).data);
      assert.equal(sc.pub.length, 0);
      assert.equal(sc.sign.length, 0);
      const res = await acceptServerHello(clientCrypto, run.hello, run.scBody, new Map());
      assert.equal(res.keys, null);
      assert.equal(run.serverKeys, null);
      assert.equal(res.startIndex, sc.startIndex);
    });
  });
}

// ---------------------------------------------------------------------------------------
// The client's checks (PROTOCOL.md 7.4)

/** Rebuilds an SCHandshake Packet after `edit`; `resign` signs the edited fields again. */
async function editServerHello(run: Run, edit: (sc: SCHandshake) => void, resignWith?: SigningKey): Promise<Uint8Array> {
  const p = decodePacket(run.scBody);
  const sc = fromBinary(SCHandshakeSchema, p.data);
  edit(sc);
  if (resignWith) {
    const c = run.server.crypto;
    const input = serverSignatureInput(await c.sha256(run.hello.body), sc.pub, sc.timestamp, sc.certVersion, sc.startIndex, sc.version);
    sc.sign = await c.ed25519Sign(resignWith, input);
  }
  return encodePacket({ ...p, data: toBinary(SCHandshakeSchema, sc) });
}

for (const crypto of [nodeCrypto, webCrypto] as CryptoBackend[]) {
  describe(`acceptServerHello with the ${crypto.name} back end`, async () => {
    const p = await parties(crypto);
    const v2 = p.cfg.serverKeys.get(2)!;
    const invalid = is(ErrorCode.HandshakeInvalid);

    it('a ServerLogout answer: JANUS_ERR_LOGOUT carrying details.logoutCode', async () => {
      const run = await runHandshake(p, p);
      for (const code of [SCServerLogout_Code.BadVersion, SCServerLogout_Code.Unauthorized, SCServerLogout_Code.ClockSkew, SCServerLogout_Code.Server]) {
        const body = encodePacket(serverLogoutPacket(code, NOW));
        await assert.rejects(acceptServerHello(crypto, run.hello, body, p.pinned), (e: unknown) => isJanusError(e, ErrorCode.Logout) && e.details.logoutCode === code);
      }
    });

    it('the edit helper keeps an unedited answer valid (so each rejection below is the edit)', async () => {
      const run = await runHandshake(p, p);
      const same = await editServerHello(run, () => {}, v2);
      assert.ok((await acceptServerHello(crypto, run.hello, same, p.pinned)).keys);
    });

    it('signed with another version than the pinned one: rejected', async () => {
      const run = await runHandshake(p, p, true, 2);
      const v1 = await editServerHello(run, (sc) => (sc.certVersion = 1), p.cfg.serverKeys.get(1)!);
      await assert.rejects(acceptServerHello(crypto, run.hello, v1, p.pinned), invalid);
    });

    it('signed with a version the client does not pin (it asked for the newest): rejected', async () => {
      const run = await runHandshake(p, p);
      await assert.rejects(acceptServerHello(crypto, run.hello, run.scBody, new Map([[1, p.pinned.get(1)!]])), invalid);
    });

    it('a bad signature, or a good one under another key: rejected', async () => {
      const run = await runHandshake(p, p);
      const flipped = await editServerHello(run, (sc) => (sc.sign[3]! ^= 0x40));
      await assert.rejects(acceptServerHello(crypto, run.hello, flipped, p.pinned), invalid);
      const swapped = new Map([[2, p.pinned.get(1)!]]);
      await assert.rejects(acceptServerHello(crypto, run.hello, run.scBody, swapped), invalid);
      const otherStart = await editServerHello(run, (sc) => (sc.startIndex = sc.startIndex === 1 ? 2 : sc.startIndex - 1));
      await assert.rejects(acceptServerHello(crypto, run.hello, otherStart, p.pinned), invalid, 'start_index is signed');
    });

    it('an answer to another ClientHello (another cs_body): rejected', async () => {
      const a = await runHandshake(p, p);
      const b = await runHandshake(p, p);
      await assert.rejects(acceptServerHello(crypto, b.hello, a.scBody, p.pinned), invalid);
    });

    it('pub of 31 bytes, sign of 63 bytes, or an empty pub and sign (a plaintext gateway): rejected', async () => {
      const run = await runHandshake(p, p);
      const pub31 = await editServerHello(run, (sc) => (sc.pub = sc.pub.subarray(0, 31)), v2);
      await assert.rejects(acceptServerHello(crypto, run.hello, pub31, p.pinned), invalid);
      const sign63 = await editServerHello(run, (sc) => (sc.sign = sc.sign.subarray(0, 63)));
      await assert.rejects(acceptServerHello(crypto, run.hello, sign63, p.pinned), invalid);
      const empty = await editServerHello(run, (sc) => {
        sc.pub = new Uint8Array(0);
        sc.sign = new Uint8Array(0);
      });
      await assert.rejects(acceptServerHello(crypto, run.hello, empty, p.pinned), invalid);
    });

    it('start_index outside [1, 2^30] or version 2, even correctly signed: rejected', async () => {
      const run = await runHandshake(p, p);
      for (const edit of [(sc: SCHandshake) => (sc.startIndex = 0), (sc: SCHandshake) => (sc.startIndex = MAX_START_INDEX + 1), (sc: SCHandshake) => (sc.version = 2)]) {
        await assert.rejects(acceptServerHello(crypto, run.hello, await editServerHello(run, edit, v2), p.pinned), invalid);
      }
      const top = await editServerHello(run, (sc) => (sc.startIndex = MAX_START_INDEX), v2);
      assert.equal((await acceptServerHello(crypto, run.hello, top, p.pinned)).startIndex, MAX_START_INDEX);
    });

    it('another System message or module: rejected; garbage: JANUS_ERR_PACKET_MALFORMED', async () => {
      const run = await runHandshake(p, p);
      const data = decodePacket(run.scBody).data;
      const heartbeat = encodePacket(makePacket({ mod: 1, seq: SystemSeq.HEARTBEAT, data }));
      await assert.rejects(acceptServerHello(crypto, run.hello, heartbeat, p.pinned), invalid);
      const mod2 = encodePacket(makePacket({ mod: 2, seq: 1, data }));
      await assert.rejects(acceptServerHello(crypto, run.hello, mod2, p.pinned), invalid);
      await assert.rejects(acceptServerHello(crypto, run.hello, Uint8Array.from([0xff]), p.pinned), is(ErrorCode.PacketMalformed));
    });
  });

  describe(`all-zero X25519 shared secret with the ${crypto.name} back end (PROTOCOL.md 7.3, 7.4)`, async () => {
    const p = await parties(crypto);
    // Low-order points: every X25519 result with them is all zero.
    const lowOrder = [new Uint8Array(32), Uint8Array.from([1, ...new Array<number>(31).fill(0)])];

    it('the gateway refuses a low-order client pub with JANUS_ERR_HANDSHAKE_ZERO_SHARED', async () => {
      for (const pub of lowOrder) {
        const hs = await csHandshake(p, new Set(), { pub });
        assert.equal(await checkClientHello(p.cfg, hs, NOW), null, 'correctly signed: only the key is at fault');
        const csBody = encodePacket(makePacket({ mod: 1, seq: 1, data: toBinary(CSHandshakeSchema, hs) }));
        await assert.rejects(createServerHello(p.cfg, { csBody, hs, timestamp: BigInt(NOW) }), is(ErrorCode.HandshakeZeroShared));
      }
    });

    it('the client refuses a low-order server pub with JANUS_ERR_HANDSHAKE_ZERO_SHARED', async () => {
      const run = await runHandshake(p, p);
      for (const pub of lowOrder) {
        const body = await editServerHello(run, (sc) => (sc.pub = pub), p.cfg.serverKeys.get(2)!);
        await assert.rejects(acceptServerHello(crypto, run.hello, body, p.pinned), is(ErrorCode.HandshakeZeroShared));
      }
    });
  });
}

describe('createServerHello', async () => {
  const p = await parties(nodeCrypto);

  it('uses the start_index given, else a random one in [1, 2^30]', async () => {
    const hs = await csHandshake(p);
    const csBody = encodePacket(makePacket({ mod: 1, seq: 1, data: toBinary(CSHandshakeSchema, hs) }));
    assert.equal((await createServerHello(p.cfg, { csBody, hs, timestamp: BigInt(NOW), startIndex: 77 })).startIndex, 77);
    for (let i = 0; i < 1000; i++) {
      const s = randomStartIndex(nodeCrypto);
      assert.ok(Number.isInteger(s) && s >= 1 && s <= MAX_START_INDEX, `${s}`);
    }
  });

  it('throws JANUS_ERR_HANDSHAKE_INVALID for a server key version it does not hold', async () => {
    const hs = await csHandshake(p, new Set(['serverCert']));
    const csBody = encodePacket(makePacket({ mod: 1, seq: 1, data: toBinary(CSHandshakeSchema, hs) }));
    await assert.rejects(createServerHello(p.cfg, { csBody, hs, timestamp: BigInt(NOW) }), is(ErrorCode.HandshakeInvalid));
  });
});

describe('pickServerCertVersion', () => {
  const k = { kind: 'ed25519-private', handle: null } as const;
  const held = new Map<number, SigningKey>([
    [1, k],
    [3, k],
    [2, k],
  ]);

  it('picks the newest for 0, the one asked for when held, null otherwise', () => {
    assert.equal(pickServerCertVersion(held, 0), 3);
    assert.equal(pickServerCertVersion(held, 2), 2);
    assert.equal(pickServerCertVersion(held, 1), 1);
    assert.equal(pickServerCertVersion(held, 4), null);
    assert.equal(pickServerCertVersion(new Map(), 0), null);
  });
});
