/**
 * A page connects over `wss://` (issue 10): the gateway's WebSocket listener serves TLS with
 * a self-signed certificate made in the test (listen.ws.tls), headless Chromium trusts
 * exactly that certificate's public key (`--ignore-certificate-errors-spki-list`, the
 * SHA-256 of its SPKI) and nothing else, and the web demo's page logs in with the browser
 * SDK, joins a room and sees its own chat line pushed back. Needs Chromium at
 * /usr/bin/chromium (docs/decisions/0006-browser-test.md).
 */
import { strict as assert } from 'node:assert';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { nodeCrypto } from '@janus/protocol/node';
import { startWebDemo } from '@janus/web-demo';
import { startStack } from './support/stack.js';
import { makeSelfSignedCert } from './support/tls-cert.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const WAIT_MS = 15_000;

/** Base64 SHA-256 of a certificate's SubjectPublicKeyInfo: what Chromium's SPKI allow-list takes. */
function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

async function stateOf(page: Page): Promise<string> {
  return page.$eval('#state', (el) => el.getAttribute('data-state') ?? '');
}

test('a page connects over wss:// to a gateway with a self-signed certificate the browser is told to trust', { timeout: 90_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium is not installed (no ${CHROMIUM}): apt-get install chromium (scripts/install-test-tools.sh); never npx playwright install`);
  const dir = mkdtempSync(join(tmpdir(), 'janus-browser-wss-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = await makeSelfSignedCert(dir, 'gateway');
  const other = await makeSelfSignedCert(dir, 'other');
  const stack = await startStack({
    config: {
      listen: {
        tcp: { host: '127.0.0.1', port: 0 },
        ws: { host: '127.0.0.1', port: 0, tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
        grpc: { host: '127.0.0.1', port: 19100 },
      },
    },
  });
  t.after(() => stack.stop());
  const web = await startWebDemo({
    host: '127.0.0.1',
    port: 0,
    gateway: { host: '127.0.0.1', port: stack.gw.wsPort, path: '/ws', tls: true },
    tokenKey: stack.keys.tokenKey,
    clientKeyPem: stack.keys.clientKeyPem,
    clientCertVersion: 1,
    serverKeys: { 1: stack.keys.serverPubPem },
    crypto: nodeCrypto,
  });
  t.after(() => web.close());

  const login = async (page: Page, name: string): Promise<void> => {
    await page.goto(web.url, { waitUntil: 'load' });
    await page.fill('#name', name);
    await page.fill('#room', '3');
    await page.click('#connect');
  };

  await t.test('trusting another certificate, the page cannot open wss:// (the browser refuses the gateway\'s certificate)', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiHash(other.certPem)}`], timeout: 15_000 });
    try {
      const page = await browser.newPage();
      await login(page, 'mallory');
      // The SDK reports the failed connect on the page's event list; no session reaches the gateway.
      await page.waitForFunction(() => /failed|closed|error/i.test(document.getElementById('events')?.textContent ?? ''), undefined, { timeout: WAIT_MS });
      assert.notEqual(await stateOf(page), 'open');
      assert.equal(stack.gw.sessions.size, 0);
    } finally {
      await browser.close();
    }
  });

  await t.test('trusting the gateway\'s certificate, the page logs in over wss:// and chats', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiHash(cert.certPem)}`], timeout: 15_000 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await login(page, 'alice');
      await page.waitForSelector('#state[data-state="open"]', { timeout: WAIT_MS });
      await page.waitForFunction(() => (document.getElementById('messages')?.textContent ?? '').includes('you are in room 3'), undefined, { timeout: WAIT_MS });
      await page.fill('#text', 'over tls');
      await page.click('#send');
      await page.waitForFunction(() => (document.getElementById('messages')?.textContent ?? '').includes('aliceover tls'), undefined, { timeout: WAIT_MS });
      // The listener speaks only TLS, so this session came over wss://.
      assert.equal(stack.gw.sessions.size, 1);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
