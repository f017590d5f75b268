/**
 * The web demo of `janus demo` end to end in headless Chromium: two pages, each with the
 * SDK's browser build, get dev tokens from the demo server, join room 7 and chat through a
 * real gateway and the demo backend; a gateway restart mid-session is survived (the pages
 * reconnect, join again and chat again); a second login of the same name in a third page is
 * shown in the first as ConflictingLogin, with no reconnect loop.
 *
 * Screenshots of both pages (and of the logged-out one) are taken every run; with
 * JANUS_UPDATE_SCREENSHOTS=1 they are written to docs/img/ (the ones docs/demo.md shows).
 * Needs Chromium at /usr/bin/chromium (docs/decisions/0006-browser-test.md).
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { nodeCrypto } from '@janus/protocol/node';
import { startWebDemo } from '@janus/web-demo';
import { startStack, type Stack } from './support/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
// Compiled tests run from packages/gateway/dist/test.
const DOCS_IMG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'img');
const WAIT_MS = 15_000;

/** The stack's gateway config with the WebSocket listener on `wsPort` (the restart keeps the port the pages know). */
function listenOn(stack: Stack, wsPort: number): Parameters<typeof startStack>[0] {
  return {
    keys: stack.keys,
    config: { listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: wsPort }, grpc: { host: '127.0.0.1', port: 19100 } } },
  };
}

async function login(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  await page.fill('#name', name);
  await page.fill('#room', '7');
  await page.click('#connect');
  await waitState(page, 'open');
}

function waitState(page: Page, state: string): Promise<unknown> {
  return page.waitForSelector(`#state[data-state="${state}"]`, { timeout: WAIT_MS });
}

/** Waits until the chat shows a line containing `text`. */
function waitMessage(page: Page, text: string, count = 1): Promise<unknown> {
  return page.waitForFunction(
    ([t, n]) => Array.from(document.querySelectorAll('#messages li')).filter((li) => li.textContent?.includes(t as string)).length >= (n as number),
    [text, count] as const,
    { timeout: WAIT_MS },
  );
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
}

const textOf = (page: Page, sel: string): Promise<string> => page.$eval(sel, (el) => el.textContent ?? '');

test('web demo: two pages chat through the gateway over the browser SDK, survive a gateway restart, show ConflictingLogin', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium is not installed (no ${CHROMIUM}): apt-get install chromium (scripts/install-test-tools.sh); never npx playwright install`);
  const stacks: Stack[] = [await startStack()];
  const first = stacks[0]!;
  const wsPort = first.gw.wsPort;
  const web = await startWebDemo({
    host: '127.0.0.1',
    port: 0,
    gateway: { host: '127.0.0.1', port: wsPort, path: '/ws' },
    tokenKey: first.keys.tokenKey,
    clientKeyPem: first.keys.clientKeyPem,
    clientCertVersion: 1,
    serverKeys: { 1: first.keys.serverPubPem },
    crypto: nodeCrypto,
  });
  t.after(async () => {
    await web.close();
    // The last stack owns the key directory; earlier ones keep only their backend running.
    for (const s of stacks.slice(0, -1)) {
      await s.gw.close();
      await s.backend?.close();
    }
    await stacks.at(-1)!.stop();
  });
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 900, height: 720 } });
  const pageErrors: string[] = [];
  const open = async (): Promise<Page> => {
    const p = await context.newPage();
    p.on('pageerror', (e) => pageErrors.push(e.message));
    return p;
  };
  const alice = await open();
  const bob = await open();

  await t.test('two pages join room 7 and chat', async () => {
    await login(alice, web.url, 'alice');
    await waitMessage(alice, 'you are in room 7 with 0 other');
    await login(bob, web.url, 'bob');
    await waitMessage(bob, 'you are in room 7 with 1 other');
    await waitMessage(alice, 'bob joined');
    await say(alice, 'hello bob');
    await waitMessage(bob, 'alicehello bob');
    await waitMessage(alice, 'alicehello bob');
    await say(bob, 'hi alice');
    await waitMessage(alice, 'bobhi alice');
    assert.equal(first.gw.sessions.size, 2);
    for (const p of [alice, bob]) {
      await p.waitForFunction(() => /^\d+\.\d ms$/.test(document.getElementById('rtt')?.textContent ?? ''), undefined, { timeout: WAIT_MS });
      assert.match(await textOf(p, '#crypto'), /^(webcrypto|noble)$/);
      assert.match(await textOf(p, '#events'), /push mod 4 seq 11 obj 7: \{"uid":\d+,"name":"alice","text":"hello bob"\}/);
    }
    assert.equal(await textOf(alice, '#who'), 'alice (uid 2001)');
    assert.equal(await textOf(bob, '#who'), 'bob (uid 2002)');
  });

  await t.test('a gateway restart mid-session: both pages reconnect, join again and chat again', async () => {
    await first.gw.close(); // ServerLogout Waiting to both pages: retried
    await Promise.all([alice, bob].map((p) => p.waitForSelector('#state[data-state="reconnecting"], #state[data-state="connecting"]', { timeout: WAIT_MS })));
    stacks.push(await startStack(listenOn(first, wsPort)));
    const second = stacks[1]!;
    for (const p of [alice, bob]) {
      await waitState(p, 'open');
      await p.waitForFunction(() => document.getElementById('reconnects')?.textContent === '1', undefined, { timeout: WAIT_MS });
    }
    // Each page joined again on the new gateway (the first join line, then the one after the reconnect).
    await waitMessage(alice, 'you are in room 7 with', 2);
    await waitMessage(bob, 'you are in room 7 with', 2);
    await say(alice, 'after the restart');
    await waitMessage(bob, 'aliceafter the restart');
    await say(bob, 'still here');
    await waitMessage(alice, 'bobstill here');
    assert.equal(second.gw.sessions.size, 2);
    assert.match(await textOf(alice, '#events'), /connection lost \(logged out: Waiting\); attempt 1 in \d+ ms/);

    const shots = { alice: await alice.screenshot({ fullPage: true }), bob: await bob.screenshot({ fullPage: true }) };
    for (const png of Object.values(shots)) assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
    if (process.env.JANUS_UPDATE_SCREENSHOTS) {
      mkdirSync(DOCS_IMG, { recursive: true });
      writeFileSync(join(DOCS_IMG, 'web-demo-alice.png'), shots.alice);
      writeFileSync(join(DOCS_IMG, 'web-demo-bob.png'), shots.bob);
    }
  });

  await t.test('the same name in a third page: the first shows ConflictingLogin and does not reconnect', async () => {
    const second = stacks[1]!;
    const alice2 = await open();
    await login(alice2, web.url, 'Alice'); // names are case-insensitive: the same uid
    await waitState(alice, 'closed');
    assert.match(await textOf(alice, '#state'), /^logged out: ConflictingLogin \(this name logged in elsewhere/);
    await waitMessage(alice, 'logged out: ConflictingLogin');
    // No reconnect loop: the new tab keeps its session and chats on; the old one stays closed.
    await say(alice2, 'the new tab');
    await waitMessage(bob, 'Alicethe new tab');
    assert.equal(await alice.$eval('#state', (el) => (el as HTMLElement).dataset.state), 'closed');
    assert.equal(await textOf(alice, '#reconnects'), '1');
    assert.equal(second.gw.sessions.size, 2);
    assert.equal(await alice.isVisible('#login'), true, 'the logged-out page offers to connect again');
    if (process.env.JANUS_UPDATE_SCREENSHOTS) writeFileSync(join(DOCS_IMG, 'web-demo-conflicting-login.png'), await alice.screenshot({ fullPage: true }));
    assert.deepEqual(pageErrors, []);
  });
});
