/**
 * @janus/protocol in a real browser: headless Chromium loads the compiled package (no
 * bundler, bare specifiers resolved by an import map), and the WebCrypto back end recomputes
 * the vector values there (PROTOCOL.md 2, 3, 6, 7). The page only computes
 * (test/support/browser-checks.ts); this file compares each value with v1.json.
 *
 * Needs Chromium at /usr/bin/chromium (Debian package `chromium`; .ci/run installs it).
 * Without it the test fails: CI must skip nothing.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { ErrorCode } from '../src/index.js';
import type { BrowserReport, Section, Vectors } from './support/browser-checks.js';
import { importMapEntries, startStaticServer, testPageHtml } from './support/static-server.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
const INSTALL_HINT =
  'install it with `apt-get update && apt-get install -y --no-install-recommends chromium` ' +
  '(.ci/run does this before `npm ci`); never `npx playwright install`';

// Compiled tests run from packages/protocol/dist/test.
const here = dirname(fileURLToPath(import.meta.url));
const protocolDir = join(here, '..', '..');
const vectorsPath = join(protocolDir, 'test', 'vectors', 'v1.json');
const V = JSON.parse(readFileSync(vectorsPath, 'utf8'));

/** The directory of an installed package, found from its main entry. */
function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = dirname(dir);
    assert.notEqual(up, dir, `no package.json of ${name} above its entry`);
    dir = up;
  }
  return dir;
}

/** The value of a report section, or a failure naming the error the browser hit. */
function valueOf<T>(s: Section<T>, name: string): T {
  if ('error' in s) assert.fail(`${name} threw in the browser: ${s.error}`);
  return s.value;
}

test('@janus/protocol in headless Chromium reproduces the vectors with webCrypto', { timeout: 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium is not installed (no ${CHROMIUM}): ${INSTALL_HINT}`);

  const pbDir = packageDir('@bufbuild/protobuf');
  const protocolPkg = JSON.parse(readFileSync(join(protocolDir, 'package.json'), 'utf8'));
  const pbPkg = JSON.parse(readFileSync(join(pbDir, 'package.json'), 'utf8'));
  // Only the main entry of @janus/protocol: the browser must not see './node'.
  const protocolImports = importMapEntries({ name: protocolPkg.name, exports: { '.': protocolPkg.exports['.'] } }, '/packages/protocol/');
  const imports = { ...importMapEntries(pbPkg, '/node_modules/@bufbuild/protobuf/'), ...protocolImports };
  for (const spec of ['@bufbuild/protobuf', '@bufbuild/protobuf/codegenv2', '@bufbuild/protobuf/wire', '@janus/protocol']) {
    assert.ok(imports[spec], `import map has no entry for ${spec}`);
  }
  assert.equal(imports['@janus/protocol'], '/packages/protocol/dist/src/index.js');

  const server = await startStaticServer(
    [
      { urlPrefix: '/packages/protocol/dist/', dir: join(protocolDir, 'dist') },
      { urlPrefix: '/packages/protocol/test/vectors/', dir: join(protocolDir, 'test', 'vectors') },
      { urlPrefix: '/node_modules/@bufbuild/protobuf/dist/esm/', dir: join(pbDir, 'dist', 'esm') },
    ],
    {
      '/': testPageHtml(imports, '/packages/protocol/dist/test/support/browser-checks.js', '/packages/protocol/test/vectors/v1.json'),
    },
  );
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close();
    await server.close();
  });

  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
  } catch (err) {
    assert.fail(`could not launch ${CHROMIUM} (${(err as Error).message.split('\n')[0]}): ${INSTALL_HINT}`);
  }
  t.diagnostic(`Chromium ${browser.version()}`);

  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  await page.goto(`${server.origin}/`, { waitUntil: 'load', timeout: 10_000 });
  let report: BrowserReport | undefined;
  try {
    report = await page.evaluate(() => (window as unknown as { __janusReport?: Promise<BrowserReport> }).__janusReport);
  } catch (err) {
    assert.fail(
      `the page failed: ${(err as Error).message.split('\n')[0]}; page errors: ${JSON.stringify(pageErrors)}; ` +
        `404: ${JSON.stringify(server.missing)}`,
    );
  }
  assert.ok(report, `the page's module script did not run; page errors: ${JSON.stringify(pageErrors)}; 404: ${JSON.stringify(server.missing)}`);
  const r = report;
  t.diagnostic(`user agent: ${r.userAgent}`);

  await t.test('runs as browser code: no Buffer, no process, the webcrypto back end', () => {
    assert.equal(r.bufferType, 'undefined', 'globalThis.Buffer exists in the page');
    assert.equal(r.processType, 'undefined', 'globalThis.process exists in the page');
    assert.equal(r.backendName, 'webcrypto');
    assert.deepEqual(pageErrors, [], `errors in the page (404: ${JSON.stringify(server.missing)})`);
  });

  await t.test('token: seals the vector token and opens it padded and unpadded; negatives are malformed', () => {
    const tk = valueOf(r.token, 'token');
    assert.equal(tk.sealed, V.token.token, 'sealToken with the vector nonce');
    const f = V.token.fields;
    const expected = {
      rand: f.rand,
      color: f.color,
      accountId: String(f.account_id),
      serverId: String(f.server_id),
      timeout: String(f.timeout),
      location: String(f.location),
      status: String(f.status),
    };
    assert.equal(tk.opened.length, 2);
    assert.deepEqual(tk.opened[0], expected, 'openToken of the unpadded token');
    assert.deepEqual(tk.opened[1], expected, 'openToken of the padded token');
    const negatives = (V as Vectors).records.negative.filter((n) => n.token !== undefined);
    assert.ok(negatives.length > 0);
    assert.deepEqual(
      tk.negative.map((n) => n.what),
      negatives.map((n) => n.what),
    );
    for (const n of tk.negative) assert.equal(n.outcome, ErrorCode.TokenMalformed, n.what);
  });

  await t.test('client handshake: CSHandshake byte for byte, the SCHandshake gives the vector keys', () => {
    const hs = valueOf(r.handshake, 'handshake');
    assert.equal(hs.clientEphemeralPublicHex, V.keys.client_ephemeral_public_hex, 'client ephemeral public key');
    assert.equal(hs.clientSignatureHex, V.handshake.client_signature_hex, 'client signature');
    assert.equal(hs.csPacketHex, V.handshake.cs_packet_hex, 'cs_packet_hex');
    assert.equal(hs.csFrameHex, V.handshake.cs_frame_hex, 'cs_frame_hex');
    assert.equal(hs.startIndex, V.handshake.start_index, 'start_index');
    assert.ok(hs.keys, 'acceptServerHello gave no keys');
    assert.equal(hs.keys.c2sKeyHex, V.key_schedule.c2s_key_hex, 'c2s key');
    assert.equal(hs.keys.s2cKeyHex, V.key_schedule.s2c_key_hex, 's2c key');
    assert.equal(hs.keys.c2sIvHex, V.key_schedule.c2s_iv_hex, 'c2s iv');
    assert.equal(hs.keys.s2cIvHex, V.key_schedule.s2c_iv_hex, 's2c iv');
    assert.equal(hs.tamperedOutcome, ErrorCode.HandshakeInvalid, 'a flipped signature byte');
  });

  await t.test('records: every vector record seals byte for byte and opens, both directions', () => {
    const recs = valueOf(r.records, 'records');
    const expected = [
      ...V.records.client_to_server.map((v: object) => ({ direction: 'client_to_server', ...v })),
      ...V.records.server_to_client.map((v: object) => ({ direction: 'server_to_client', ...v })),
    ];
    assert.equal(recs.length, expected.length, 'number of records');
    expected.forEach((v, i) => {
      const got = recs[i]!;
      const name = `${v.direction} n=${v.n}`;
      assert.equal(`${got.direction} n=${got.n}`, name);
      assert.equal(got.countBefore, v.n, `${name} sealer count`);
      assert.equal(got.packetHex, v.packet_hex, `${name} packet`);
      assert.equal(got.recordHex, v.record_hex, `${name} record`);
      assert.equal(got.frameHex, v.frame_hex, `${name} frame`);
      assert.equal(got.openedHex, v.packet_hex, `${name} opened`);
    });
  });

  await t.test('records: every negative record fails to open', () => {
    const negs = valueOf(r.negativeRecords, 'negative records');
    const expected = (V as Vectors).records.negative.filter((n) => n.record_hex !== undefined);
    assert.ok(expected.length > 0);
    assert.deepEqual(
      negs.map((n) => n.what),
      expected.map((n) => n.what),
    );
    for (const n of negs) assert.equal(n.outcome, ErrorCode.RecordOpen, n.what);
  });

  await t.test('frames: FrameDecoder and encodeFrame round-trip every vector frame', () => {
    const fr = valueOf(r.frames, 'frames');
    const records = [...V.records.client_to_server, ...V.records.server_to_client];
    const bodies = [V.handshake.cs_packet_hex, V.handshake.sc_packet_hex, ...records.map((x: { record_hex: string }) => x.record_hex)];
    const frames = [V.handshake.cs_frame_hex, V.handshake.sc_frame_hex, ...records.map((x: { frame_hex: string }) => x.frame_hex)];
    assert.deepEqual(fr.wholeBodies, bodies, 'bodies decoded from one chunk');
    assert.deepEqual(fr.chunkedBodies, bodies, 'bodies decoded from 7-byte chunks');
    assert.deepEqual(fr.reencodedHex, frames, 'encodeFrame of the decoded bodies');
  });
});
