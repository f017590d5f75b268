/**
 * The SDK's browser build in headless Chromium reproduces the vectors (shared/vectors/v1.json)
 * through its own code paths, once with the back end Chromium's WebCrypto gives and once with
 * the noble fallback (a page whose SubtleCrypto refuses Ed25519 and X25519, as a browser
 * without them does).
 *
 * The page (test/support/vector-page.ts, bundled with the SDK by esbuild) runs one session of
 * the vector transcript with the public API against a scripted gateway here: a WebSocket
 * server that expects the vector bytes and answers with the vector bytes. CSHandshake,
 * CSAuth, CSHeartbeat and the two plain requests must arrive byte for byte as in v1.json;
 * the compressed request is checked by opening it (its zlib bytes depend on the deflater's
 * level: the vector used level 1, the browser's CompressionStream its default), and its
 * reply is the vector's own zlib data, which the SDK must inflate to `inflated_hex`.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { WebSocketServer, type WebSocket } from 'ws';
import { CSHeartbeatSchema, decodeMessage, decodePacket, encodePacket, fromHex, makePacket, RecordOpener, RecordSealer, setRecordCount, toHex, utf8 } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { bundleForBrowser } from './support/bundle.js';
import { launchChromium } from './support/chromium.js';
import { modulePage, startPageServer } from './support/page-server.js';
import type { VectorSessionInput, VectorSessionReport } from './support/vector-page.js';

// Compiled tests run from packages/client/dist/test.
const here = dirname(fileURLToPath(import.meta.url));
const V = JSON.parse(readFileSync(join(here, '..', '..', '..', 'protocol', 'test', 'vectors', 'v1.json'), 'utf8'));
const H = V.handshake;
const KS = V.key_schedule;
const C2S = V.records.client_to_server as { n: number; record_hex: string; packet: { data: string } }[];
const S2C = V.records.server_to_client as { n: number; record_hex: string }[];

/** What the scripted gateway saw. */
interface Transcript {
  protocol: string;
  /** Hex of each body received, in order. */
  bodies: string[];
  /** The compressed request, opened. */
  compressed?: { mod: number; seq: number; index: number; compress: boolean; inflatedHex: string; recordHex: string };
  closeCode?: number;
  errors: string[];
}

/**
 * A WebSocket server playing the gateway's side of the vector transcript for one connection:
 * SCHandshake, SCAuth, SCHeartbeat and the push are the vector records; the three replies
 * are sealed here, continuing the vector's gateway-to-client record numbers.
 */
async function scriptedGateway(t: TestContext, afterAuth?: (ws: WebSocket) => void): Promise<{ port: number; transcript: Promise<Transcript> }> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/ws',
    perMessageDeflate: false,
    handleProtocols: (p) => (p.has('janus.v1') ? 'janus.v1' : false),
  });
  await once(wss, 'listening');
  t.after(() => new Promise<void>((ok) => wss.close(() => ok())));
  const transcript = new Promise<Transcript>((resolve) => {
    wss.once('connection', (ws: WebSocket) => {
      const tr: Transcript = { protocol: ws.protocol, bodies: [], errors: [] };
      const sealer = new RecordSealer(nodeCrypto.aeadKey(fromHex(KS.s2c_key_hex)), fromHex(KS.s2c_iv_hex));
      setRecordCount(sealer, S2C.length);
      const opener = new RecordOpener(nodeCrypto.aeadKey(fromHex(KS.c2s_key_hex)), fromHex(KS.c2s_iv_hex));
      const sendHex = (h: string): void => ws.send(fromHex(h));
      const reply = (fields: Parameters<typeof makePacket>[0]): void => ws.send(sealer.seal(encodePacket(makePacket(fields))));
      ws.on('message', (data: Buffer) => {
        const body = new Uint8Array(data);
        const k = tr.bodies.push(toHex(body)) - 1;
        try {
          switch (k) {
            case 0:
              return sendHex(H.sc_packet_hex); // SCHandshake
            case 1:
              sendHex(S2C[0]!.record_hex); // SCAuth
              return afterAuth?.(ws);
            case 2:
              if (afterAuth) return;
              sendHex(S2C[1]!.record_hex); // SCHeartbeat
              return sendHex(S2C[2]!.record_hex); // a push
            case 3:
              return reply({ mod: 3, seq: 1, index: 19, data: utf8('hello player') });
            case 4:
              return reply({ mod: 4, seq: 1, index: 20, obj: -42n, data: utf8('in room -42') });
            case 5: {
              setRecordCount(opener, 4);
              const p = decodePacket(opener.open(body));
              tr.compressed = { mod: p.mod, seq: p.seq, index: p.index, compress: p.compress, inflatedHex: toHex(inflateSync(p.data)), recordHex: toHex(body) };
              return reply({ mod: 7, seq: 3, index: 21, compress: true, data: fromHex(C2S[4]!.packet.data) });
            }
            default:
              tr.errors.push(`unexpected body ${k}`);
          }
        } catch (err) {
          tr.errors.push(`body ${k}: ${(err as Error).message}`);
        }
      });
      ws.on('close', (code) => {
        tr.closeCode = code;
        resolve(tr);
      });
    });
  });
  return { port: (wss.address() as AddressInfo).port, transcript };
}

/** Makes every Ed25519 and X25519 operation of the page's SubtleCrypto fail, as in a browser without them. */
function withoutWebCryptoCurves(): void {
  const curves = new Set(['ed25519', 'x25519']);
  const named = (alg: unknown): boolean => curves.has(String(typeof alg === 'string' ? alg : (alg as { name?: unknown })?.name).toLowerCase());
  const proto = SubtleCrypto.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const [method, algArg] of [
    ['generateKey', 0],
    ['importKey', 2],
    ['sign', 0],
    ['verify', 0],
    ['deriveBits', 0],
  ] as const) {
    const original = proto[method]!;
    proto[method] = function (this: SubtleCrypto, ...args: unknown[]) {
      if (named(args[algArg])) return Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
      return original.apply(this, args);
    };
  }
}

const input = (port: number, maxFrameBytes?: number): VectorSessionInput => ({
  ...(maxFrameBytes === undefined ? {} : { maxFrameBytes }),
  port,
  token: V.token.token,
  clientKeyPem: V.keys.client_signing_private_pem,
  serverPubPem: V.keys.server_signing_public_pem,
  serverId: String(H.server_id),
  serverCertVersion: H.server_cert_version,
  clientTimestamp: H.client_timestamp,
  heartbeatClientTime: Number(decodeMessage(CSHeartbeatSchema, fromHex(C2S[1]!.packet.data)).clientTime),
  clientEphemeralPkcs8Hex: V.keys.client_ephemeral_pkcs8_hex,
  compressedRequestHex: V.records.inflated_hex,
});

test('the browser build of the SDK reproduces the vectors in headless Chromium', { timeout: 90_000 }, async (t) => {
  const bundle = await bundleForBrowser(join(here, 'support', 'vector-page.js'));
  const entry = bundle.files.find((f) => f.entryPoint?.endsWith('vector-page.js'));
  assert.ok(entry, 'no output for the page entry');
  const nobleChunk = bundle.files.find((f) => f.entryPoint?.endsWith('noble-crypto.js'));
  assert.ok(nobleChunk, 'no noble chunk');
  const pages = await startPageServer(modulePage(`/${entry.name}`, 'Janus SDK vectors'), bundle.files);
  t.after(() => pages.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  t.diagnostic(`Chromium ${browser.version()}`);

  for (const mode of ['webcrypto', 'noble'] as const) {
    await t.test(`with ${mode === 'webcrypto' ? "Chromium's WebCrypto" : 'the noble fallback (WebCrypto without Ed25519 and X25519)'}`, async (t) => {
      const gw = await scriptedGateway(t);
      const context = await browser.newContext();
      t.after(() => context.close());
      if (mode === 'noble') await context.addInitScript(withoutWebCryptoCurves);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const fetchedBefore = pages.requested.length;
      await page.goto(`${pages.origin}/`, { waitUntil: 'load' });
      await page.waitForFunction(() => typeof (globalThis as { runVectorSession?: unknown }).runVectorSession === 'function');
      const r = (await page.evaluate(
        (i) => (globalThis as unknown as { runVectorSession(i: VectorSessionInput): Promise<VectorSessionReport> }).runVectorSession(i),
        input(gw.port),
      )) as VectorSessionReport;
      const tr = await gw.transcript;
      assert.deepEqual(errors, [], 'errors in the page');
      assert.deepEqual(tr.errors, [], 'the scripted gateway');

      assert.equal(r.bufferType, 'undefined', 'globalThis.Buffer exists in the page');
      assert.equal(r.processType, 'undefined', 'globalThis.process exists in the page');
      assert.equal(r.cryptoName, mode, 'the back end defaultCrypto() picked');
      assert.equal(r.cryptoSynchronous, mode === 'noble');
      const fetched = pages.requested.slice(fetchedBefore);
      assert.equal(fetched.includes(`/${nobleChunk.name}`), mode === 'noble', `the noble chunk is fetched only when needed: ${fetched.join(', ')}`);

      assert.equal(tr.protocol, 'janus.v1', 'the subprotocol the page offered');
      assert.equal(tr.bodies[0], H.cs_packet_hex, 'CSHandshake (cs_packet_hex)');
      for (const n of [0, 1, 2, 3]) assert.equal(tr.bodies[n + 1], C2S[n]!.record_hex, `client-to-gateway record n=${n}`);
      assert.ok(tr.compressed, 'the compressed request arrived');
      assert.deepEqual({ ...tr.compressed, recordHex: undefined }, { mod: 7, seq: 3, index: 21, compress: true, inflatedHex: V.records.inflated_hex, recordHex: undefined });
      t.diagnostic(`compressed record ${tr.compressed.recordHex === C2S[4]!.record_hex ? 'equals' : 'differs from (deflate level)'} the vector's`);
      assert.equal(tr.bodies.length, 6);
      assert.equal(tr.closeCode, 1000, 'close() sends WebSocket close 1000');

      assert.deepEqual(r.session, { uid: '10001', sid: '7', color: 'blue', serverTime: r.session.serverTime, startIndex: String(H.start_index) });
      assert.equal(r.heartbeat.code, 1, 'SCHeartbeat Succeeded');
      assert.ok(r.heartbeat.rttMs >= 0);
      assert.deepEqual(r.pushes, [{ mod: 3, seq: 6, obj: '10001', index: 0, dataHex: toHex(utf8('pushed to you')) }], 'the vector push');
      assert.deepEqual(r.replies, [
        { mod: 3, seq: 1, obj: '0', index: 19, dataHex: toHex(utf8('hello player')) },
        { mod: 4, seq: 1, obj: '-42', index: 20, dataHex: toHex(utf8('in room -42')) },
        { mod: 7, seq: 3, obj: '0', index: 21, dataHex: V.records.inflated_hex },
      ]);
      assert.deepEqual(r.states, ['open', 'closed']);
      assert.deepEqual(JSON.parse(r.closeReason), { kind: 'closed' });
    });
  }
});

test("the browser build's WebSocket transport refuses what PROTOCOL.md 2 forbids, and reports a gateway's close code", { timeout: 60_000 }, async (t) => {
  const bundle = await bundleForBrowser(join(here, 'support', 'vector-page.js'));
  const entry = bundle.files.find((f) => f.entryPoint?.endsWith('vector-page.js'))!;
  const pages = await startPageServer(modulePage(`/${entry.name}`, 'Janus SDK transport'), bundle.files);
  t.after(() => pages.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${pages.origin}/`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof (globalThis as { runUntilClose?: unknown }).runUntilClose === 'function');

  const cases: { what: string; send: (ws: WebSocket) => void; maxFrameBytes?: number; expect: { kind: string; code: string | null; wsCode: number | null } }[] = [
    { what: 'a text message', send: (ws) => ws.send('not binary'), expect: { kind: 'closed', code: 'JANUS_ERR_UNEXPECTED_MESSAGE', wsCode: 1000 } },
    { what: 'an empty binary message', send: (ws) => ws.send(new Uint8Array(0)), expect: { kind: 'closed', code: 'JANUS_ERR_FRAME_EMPTY', wsCode: 1000 } },
    { what: 'a message over maxFrameBytes', maxFrameBytes: 256, send: (ws) => ws.send(new Uint8Array(257)), expect: { kind: 'closed', code: 'JANUS_ERR_FRAME_TOO_LARGE', wsCode: 1000 } },
    { what: 'a record that does not open', send: (ws) => ws.send(new Uint8Array(40).fill(7)), expect: { kind: 'closed', code: 'JANUS_ERR_RECORD_OPEN', wsCode: 1000 } },
    { what: 'a close 1013 without ServerLogout', send: (ws) => ws.close(1013), expect: { kind: 'closed', code: null, wsCode: 1013 } },
  ];
  for (const c of cases) {
    await t.test(c.what, async (t) => {
      const gw = await scriptedGateway(t, c.send);
      const r = await page.evaluate(
        (i) => (globalThis as unknown as { runUntilClose(i: VectorSessionInput): Promise<Record<string, unknown>> }).runUntilClose(i),
        input(gw.port, c.maxFrameBytes),
      );
      assert.deepEqual(r, { ...c.expect, state: 'closed' });
      const tr = await gw.transcript;
      assert.deepEqual(tr.errors, []);
      assert.equal(tr.bodies.length, 2, 'CSHandshake and CSAuth, nothing after');
      assert.equal(tr.closeCode, c.expect.wsCode, 'the close code the gateway saw');
    });
  }
});
