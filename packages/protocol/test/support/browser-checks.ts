/**
 * Browser side of test/browser.test.ts: runs inside headless Chromium, never in Node.
 *
 * The page imports `@janus/protocol` through its import map and hands the module to
 * {@link runBrowserChecks}, which recomputes the vector values (PROTOCOL.md 2, 3, 6, 7) with
 * the WebCrypto back end and returns them as plain strings. It asserts nothing itself: the
 * Node test compares each value with v1.json, so a failure names the value.
 *
 * Only the type of the protocol module is imported here (erased at compile time), so this
 * file has no import the browser would have to resolve.
 */
import type * as Janus from '../../src/index.js';

/** The protocol module as the page imported it. */
export type JanusModule = typeof Janus;

/** One part of the report: its values, or the error it threw in the browser. */
export type Section<T> = { value: T } | { error: string };

/** What a rejected (or resolved) operation ended with: a JanusError code, or a description. */
export type Outcome = string;

/** Token values (PROTOCOL.md 6). int64 fields are decimal strings. */
export interface TokenReport {
  /** sealToken with the vector nonce. */
  sealed: string;
  /** openToken of the unpadded then the padded vector token: the fields, stringified. */
  opened: Record<string, string>[];
  /** openToken of each negative token: its outcome. */
  negative: { what: string; outcome: Outcome }[];
}

/** Client handshake values (PROTOCOL.md 7.1, 7.4), hex. */
export interface HandshakeReport {
  clientEphemeralPublicHex: string;
  clientSignatureHex: string;
  csPacketHex: string;
  csFrameHex: string;
  /** acceptServerHello of the vector SCHandshake. */
  startIndex: number;
  keys: { c2sKeyHex: string; s2cKeyHex: string; c2sIvHex: string; s2cIvHex: string } | null;
  /** acceptServerHello with one signature byte flipped. */
  tamperedOutcome: Outcome;
}

/** One vector record recomputed (PROTOCOL.md 3, 7.5), hex. */
export interface RecordReport {
  direction: 'client_to_server' | 'server_to_client';
  n: number;
  /** encodePacket of the vector's packet fields. */
  packetHex: string;
  /** The sealer's count before sealing. */
  countBefore: number;
  recordHex: string;
  /** encodeFrame of the sealed record. */
  frameHex: string;
  /** RecordOpener.open of the vector record. */
  openedHex: string;
}

/** Frame decoding of every vector frame (PROTOCOL.md 2), bodies in hex. */
export interface FrameReport {
  /** All frames pushed as one chunk. */
  wholeBodies: string[];
  /** The same bytes pushed in chunks of 7 bytes (bodies split across reads). */
  chunkedBodies: string[];
  /** encodeFrame of each body decoded from the whole chunk. */
  reencodedHex: string[];
}

/** Everything the page reports. */
export interface BrowserReport {
  userAgent: string;
  /** `typeof globalThis.Buffer` and `typeof globalThis.process`: 'undefined' in a browser. */
  bufferType: string;
  processType: string;
  backendName: string;
  token: Section<TokenReport>;
  handshake: Section<HandshakeReport>;
  records: Section<RecordReport[]>;
  negativeRecords: Section<{ what: string; outcome: Outcome }[]>;
  frames: Section<FrameReport>;
}

/** The subset of v1.json the page reads (snake_case as in the file). */
export interface Vectors {
  token: {
    token_key_b64: string;
    nonce_hex: string;
    fields: { rand: string; color: string; account_id: number; server_id: number; timeout: number; location: number; status: number };
    token: string;
    token_padded: string;
  };
  keys: { client_signing_private_pem: string; client_ephemeral_pkcs8_hex: string; server_signing_public_pem: string };
  handshake: {
    client_timestamp: number;
    server_id: number;
    cert_version: number;
    server_cert_version: number;
    cs_packet_hex: string;
    cs_frame_hex: string;
    sc_packet_hex: string;
    sc_frame_hex: string;
  };
  key_schedule: { c2s_key_hex: string; s2c_key_hex: string; c2s_iv_hex: string; s2c_iv_hex: string };
  records: {
    client_to_server: VectorRecord[];
    server_to_client: VectorRecord[];
    negative: { what: string; n?: number; record_hex?: string; token?: string }[];
  };
}

/** A record of v1.json. */
export interface VectorRecord {
  n: number;
  packet: {
    mod: number;
    seq: number;
    index?: number;
    obj?: number;
    data_version?: number;
    ver?: number;
    compress?: boolean;
    data: string;
  };
  packet_hex: string;
  record_hex: string;
  frame_hex: string;
}

/** The `now` (unix seconds) at which the vector tokens are opened, as in vectors.test.ts. */
const TOKEN_NOW = 1767225600;
const CHUNK_BYTES = 7;

async function section<T>(run: () => Promise<T>): Promise<Section<T>> {
  try {
    return { value: await run() };
  } catch (err) {
    return { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Runs the browser checks with `janus.webCrypto` and returns every computed value. */
export async function runBrowserChecks(janus: JanusModule, V: Vectors): Promise<BrowserReport> {
  const { fromHex, toHex } = janus;
  const crypto = janus.webCrypto;

  const outcome = async (op: () => Promise<unknown>): Promise<Outcome> => {
    try {
      await op();
      return 'resolved';
    } catch (err) {
      if (janus.isJanusError(err)) return err.code;
      return `not a JanusError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    }
  };

  const token = section(async (): Promise<TokenReport> => {
    const key = janus.fromBase64(V.token.token_key_b64);
    const f = V.token.fields;
    const fields: Janus.TokenFields = {
      rand: f.rand,
      color: f.color,
      accountId: BigInt(f.account_id),
      serverId: BigInt(f.server_id),
      timeout: BigInt(f.timeout),
      location: f.location,
      status: f.status,
    };
    const sealed = await janus.sealToken(crypto, key, fields, fromHex(V.token.nonce_hex));
    const opened: Record<string, string>[] = [];
    // A retired all-zero key first: opening must fall through to the right one.
    const keys = [new Uint8Array(32), key];
    for (const tk of [V.token.token, V.token.token_padded]) {
      const o = await janus.openToken(crypto, keys, tk, TOKEN_NOW);
      opened.push(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)])));
    }
    const negative = [];
    for (const neg of V.records.negative) {
      if (neg.token === undefined) continue;
      const tk = neg.token;
      negative.push({ what: neg.what, outcome: await outcome(() => janus.openToken(crypto, [key], tk, TOKEN_NOW)) });
    }
    return { sealed, opened, negative };
  });

  const handshake = section(async (): Promise<HandshakeReport> => {
    const H = V.handshake;
    const clientKey = await crypto.importSigningKey(V.keys.client_signing_private_pem);
    const ephemeral = await crypto.x25519FromPkcs8(fromHex(V.keys.client_ephemeral_pkcs8_hex));
    const input = janus.clientSignatureInput(ephemeral.publicKey, BigInt(H.client_timestamp), BigInt(H.server_id));
    const clientSignatureHex = toHex(await crypto.ed25519Sign(clientKey, input));
    const hello = await janus.createClientHello({
      crypto,
      clientKey,
      certVersion: H.cert_version,
      serverId: BigInt(H.server_id),
      serverCertVersion: H.server_cert_version,
      timestamp: BigInt(H.client_timestamp),
      ephemeral,
    });
    const pins = new Map([[H.server_cert_version, await crypto.importVerifyKey(V.keys.server_signing_public_pem)]]);
    const res = await janus.acceptServerHello(crypto, hello, fromHex(H.sc_packet_hex), pins);
    const tampered = fromHex(H.sc_packet_hex);
    tampered[60]! ^= 1; // a byte of SCHandshake.sign
    return {
      clientEphemeralPublicHex: toHex(ephemeral.publicKey),
      clientSignatureHex,
      csPacketHex: toHex(hello.body),
      csFrameHex: toHex(janus.encodeFrame(hello.body)),
      startIndex: res.startIndex,
      keys: res.keys && {
        c2sKeyHex: toHex(res.keys.c2sKey),
        s2cKeyHex: toHex(res.keys.s2cKey),
        c2sIvHex: toHex(res.keys.c2sIv),
        s2cIvHex: toHex(res.keys.s2cIv),
      },
      tamperedOutcome: await outcome(() => janus.acceptServerHello(crypto, hello, tampered, pins)),
    };
  });

  const records = section(async (): Promise<RecordReport[]> => {
    const KS = V.key_schedule;
    const dirs = [
      ['client_to_server', KS.c2s_key_hex, KS.c2s_iv_hex],
      ['server_to_client', KS.s2c_key_hex, KS.s2c_iv_hex],
    ] as const;
    const out: RecordReport[] = [];
    for (const [direction, key, iv] of dirs) {
      const aead = await crypto.aeadKey(fromHex(key));
      const sealer = new janus.RecordSealer(aead, fromHex(iv));
      const opener = new janus.RecordOpener(aead, fromHex(iv));
      for (const r of V.records[direction]) {
        const p = r.packet;
        const packet = janus.makePacket({
          mod: p.mod,
          seq: p.seq,
          index: p.index ?? 0,
          obj: BigInt(p.obj ?? 0),
          dataVersion: BigInt(p.data_version ?? 0),
          ver: p.ver ?? 0,
          compress: p.compress ?? false,
          data: fromHex(p.data),
        });
        const countBefore = sealer.count;
        const record = await sealer.seal(fromHex(r.packet_hex));
        out.push({
          direction,
          n: r.n,
          packetHex: toHex(janus.encodePacket(packet)),
          countBefore,
          recordHex: toHex(record),
          frameHex: toHex(janus.encodeFrame(record)),
          openedHex: toHex(await opener.open(fromHex(r.record_hex))),
        });
      }
    }
    return out;
  });

  const negativeRecords = section(async () => {
    const aead = await crypto.aeadKey(fromHex(V.key_schedule.c2s_key_hex));
    const out: { what: string; outcome: Outcome }[] = [];
    for (const neg of V.records.negative) {
      if (neg.record_hex === undefined || neg.n === undefined) continue;
      const opener = new janus.RecordOpener(aead, fromHex(V.key_schedule.c2s_iv_hex));
      janus.setRecordCount(opener, neg.n);
      const record = fromHex(neg.record_hex);
      out.push({ what: neg.what, outcome: await outcome(async () => opener.open(record)) });
    }
    return out;
  });

  const frames = section(async (): Promise<FrameReport> => {
    const all = [V.handshake.cs_frame_hex, V.handshake.sc_frame_hex, ...V.records.client_to_server.map((r) => r.frame_hex), ...V.records.server_to_client.map((r) => r.frame_hex)];
    const stream = janus.concatBytes(...all.map(fromHex));
    const wholeBodies: string[] = [];
    const whole = new janus.FrameDecoder(janus.DEFAULT_MAX_FRAME_BYTES, (body) => wholeBodies.push(toHex(body)));
    whole.push(stream);
    const chunkedBodies: string[] = [];
    const chunked = new janus.FrameDecoder(janus.DEFAULT_MAX_FRAME_BYTES, (body) => chunkedBodies.push(toHex(body)));
    for (let at = 0; at < stream.length; at += CHUNK_BYTES) chunked.push(stream.slice(at, at + CHUNK_BYTES));
    return { wholeBodies, chunkedBodies, reencodedHex: wholeBodies.map((b) => toHex(janus.encodeFrame(fromHex(b)))) };
  });

  return {
    userAgent: navigator.userAgent,
    bufferType: typeof (globalThis as { Buffer?: unknown }).Buffer,
    processType: typeof (globalThis as { process?: unknown }).process,
    backendName: crypto.name,
    token: await token,
    handshake: await handshake,
    records: await records,
    negativeRecords: await negativeRecords,
    frames: await frames,
  };
}
