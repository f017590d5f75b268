/**
 * The live dashboard (`GET /` on the management server) in headless Chromium against a real
 * gateway and the demo backend: the page shows the connections, msgs/s, latency percentiles,
 * traffic per module, backend instances with their tunnels and recent errors, and its
 * figures move as clients log in, send requests and leave. Clients send a batch of requests
 * each time the page has shown a new answer of /stats/dashboard (the page's own update
 * counter), so the test waits on the DOM, never on time. The page fetches nothing but its
 * own origin. /stats/dashboard stays open under an admin token and holds no uid or address.
 *
 * A screenshot is taken every run; with JANUS_UPDATE_SCREENSHOTS=1 it is written to
 * docs/img/dashboard.png. Needs Chromium at /usr/bin/chromium (docs/decisions/0006-browser-test.md).
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { mgmt } from './support/management.js';
import type { RawClient } from './support/raw-client.js';
import { loggedIn, text } from './support/session.js';
import { startStack } from './support/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
// Compiled tests run from packages/gateway/dist/test.
const DOCS_IMG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'img');
const WAIT_MS = 20_000;
const ADMIN_TOKEN = 'dashboard-test-admin-token';

const textOf = (page: Page, sel: string): Promise<string> => page.$eval(sel, (el) => el.textContent ?? '');
const updates = (page: Page): Promise<number> => page.$eval('#status', (el) => Number((el as HTMLElement).dataset.updates ?? '0'));

/** Waits until the page has rendered an answer newer than the one it showed when called. */
async function nextUpdate(page: Page): Promise<void> {
  const n = await updates(page);
  await page.waitForFunction((k) => Number(document.getElementById('status')?.dataset.updates ?? '0') > k, n, { timeout: WAIT_MS });
}

/** Each client sends `n` player requests (mod 3 seq 1, the demo backend's echo) and reads each reply. */
async function burst(clients: RawClient[], n: number): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < n; i++) {
        const r = c.send({ mod: 3, seq: 1, data: text(`ping ${i}`) });
        assert.equal((await c.nextPacket())?.index, r.index);
      }
    }),
  );
}

/** Sends a burst after every page update until `done` holds in the page (at most `rounds` bursts). */
async function trafficUntil(page: Page, clients: RawClient[], done: () => boolean, rounds = 60): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await page.evaluate(done)) return;
    await burst(clients, 20);
    await nextUpdate(page);
  }
  assert.ok(await page.evaluate(done), `the page did not reach the state after ${rounds} updates`);
}

test('dashboard: live connections, msgs/s, latency, modules, backends and errors in Chromium', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium is not installed (no ${CHROMIUM}): apt-get install chromium (scripts/install-test-tools.sh); never npx playwright install`);
  const s = await startStack({ config: { metrics: { latencySampleEvery: 1, processMetrics: false }, management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN } } });
  t.after(() => s.stop());
  const origin = `http://127.0.0.1:${s.gw.management!.port}`;
  const clients: RawClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));

  await t.test('GET / is the page, open under an admin token, with a same-origin CSP and no outside reference', async () => {
    const r = await mgmt(s, '/');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'.*connect-src 'self'/);
    assert.match(r.body, /<title>Janus gateway<\/title>/);
    // The only absolute URL in the page is the SVG namespace name (not fetched).
    assert.deepEqual([...new Set(r.body.match(/https?:\/\/[^\s'"<>)]+/g))], ['http://www.w3.org/2000/svg']);
    assert.doesNotMatch(r.body, /\bsrc=|<link\b|@import/);
    assert.equal((await mgmt(s, '/stats/connections')).status, 401, 'the admin routes still need the token');
  });

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const pageErrors: string[] = [];
  const requested: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => requested.push(r.url()));

  await t.test('the page goes live with no connection, then counts logins', async () => {
    await page.goto(origin + '/', { waitUntil: 'load' });
    await page.waitForSelector('#status[data-state="live"]', { timeout: WAIT_MS });
    assert.equal(await textOf(page, '#connections'), '0');
    assert.equal(await textOf(page, '#gateway'), s.gw.config.gateway.id);
    clients.push(await loggedIn(s, 'tcp', 3001), await loggedIn(s, 'tcp', 3002), await loggedIn(s, 'ws', 3003));
    await page.waitForFunction(() => document.getElementById('connections')?.textContent === '3', undefined, { timeout: WAIT_MS });
    await page.waitForFunction(() => document.getElementById('sessions')?.textContent === '3', undefined, { timeout: WAIT_MS });
    assert.equal(await textOf(page, '#transports'), '2 / 1');
  });

  await t.test('requests move msgs/s, the latency percentiles and the player module row; the charts draw them', async () => {
    await trafficUntil(page, clients, () => {
      const msgs = Number((document.getElementById('msgs')?.textContent ?? '').replace(/,/g, ''));
      const p99 = document.getElementById('p99')?.textContent ?? '';
      const row = Array.from(document.querySelectorAll('#modules tr')).find((tr) => tr.firstElementChild?.textContent === 'player');
      const pts = Number(document.querySelector('#chart-msgs polyline[data-series="msgs"]')?.getAttribute('data-points') ?? '0');
      return msgs > 0 && /^\d+(\.\d+)? ms$/.test(p99) && row !== undefined && Number(row.children[1]?.textContent) > 0 && pts >= 3;
    });
    for (const id of ['#p50', '#p90', '#p99', '#proc99']) assert.match(await textOf(page, id), /^\d+(\.\d+)? ms$/, id);
    const total = Number((await page.$eval('#modules tr', (tr) => tr.children[3]?.textContent ?? '')).replace(/,/g, ''));
    assert.ok(total >= 60, `player total ${total}`);
    const latencyPoints = await page.$eval('#chart-latency polyline[data-series="p99"]', (el) => Number(el.getAttribute('data-points')));
    assert.ok(latencyPoints >= 1);
  });

  await t.test('backend instances with their open tunnels', async () => {
    // The three player tunnels (one per session), to the stack's one instance (demo-1).
    await page.waitForFunction(
      () =>
        Array.from(document.querySelectorAll('#backends tr')).some(
          (tr) => tr.children[0]?.textContent === 'player (roma.player.service)' && tr.children[1]?.textContent === 'demo-1' && tr.children[4]?.textContent === '3',
        ),
      undefined,
      { timeout: WAIT_MS },
    );
  });

  await t.test('a request with no route shows in the recent errors and the errors/s', async () => {
    const c = clients[0]!;
    const r = c.send({ mod: 99, seq: 1, data: text('?') });
    const err = await c.nextPacket();
    assert.deepEqual([err?.mod, err?.seq, err?.index], [1, 3, r.index]);
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('#errors tr')).some((tr) => tr.children[1]?.textContent === 'error' && tr.children[2]?.textContent === 'no_route' && tr.children[3]?.textContent === '1'),
      undefined,
      { timeout: WAIT_MS },
    );
  });

  await t.test('/stats/dashboard is open and aggregate: no uid, no client or backend address, no token', async () => {
    const r = await mgmt(s, '/stats/dashboard');
    assert.equal(r.status, 200);
    const body = r.body;
    const d = r.json() as { samples: unknown[]; modules: { name: string }[]; backends: { instances: { id: string }[] }[] };
    assert.ok(d.samples.length >= 3);
    for (const secret of ['3001', '3002', '3003', '127.0.0.1', String(s.backendPort), ADMIN_TOKEN]) assert.ok(!body.includes(secret), `/stats/dashboard holds ${secret}`);
    assert.equal(d.backends[0]!.instances[0]!.id, 'demo-1');
  });

  await t.test('the figures go back down when traffic stops and clients leave', async () => {
    clients.pop()!.close();
    await page.waitForFunction(() => document.getElementById('connections')?.textContent === '2', undefined, { timeout: WAIT_MS });
    await page.waitForFunction(() => document.getElementById('msgs')?.textContent === '0', undefined, { timeout: WAIT_MS });
  });

  await t.test('screenshot; nothing but the management origin was fetched; no page error', async () => {
    // Traffic again for the picture, until the chart shows it.
    await trafficUntil(page, clients, () => Number((document.getElementById('msgs')?.textContent ?? '').replace(/,/g, '')) > 0);
    const png = await page.screenshot({ fullPage: true });
    assert.ok(png.length > 10_000);
    if (process.env.JANUS_UPDATE_SCREENSHOTS === '1') {
      mkdirSync(DOCS_IMG, { recursive: true });
      writeFileSync(join(DOCS_IMG, 'dashboard.png'), png);
    }
    assert.ok(requested.length >= 3);
    for (const u of requested) assert.ok(u.startsWith(origin + '/'), `the page fetched ${u}`);
    assert.deepEqual(pageErrors, []);
  });
});
