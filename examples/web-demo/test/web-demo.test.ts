/**
 * The web demo server (src/index.ts) on 127.0.0.1, port 0: the page and its bundled script,
 * POST /token and its refusals, and the name -> uid rule. The page in a browser is tested
 * end to end in packages/gateway/test/web-demo.e2e.test.ts.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AuthToken_Status, openToken } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { DevTokenIssuer, FIRST_WEB_UID, startWebDemo, type WebDemo } from '../src/index.js';

const TOKEN_KEY = new Uint8Array(randomBytes(32));
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const CLIENT_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SERVER_PUB = publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function start(t: { after(fn: () => Promise<void>): void }): Promise<WebDemo> {
  const web = await startWebDemo({
    host: '127.0.0.1',
    port: 0,
    gateway: { host: '127.0.0.1', port: 17002, path: '/ws' },
    tokenKey: TOKEN_KEY,
    clientKeyPem: CLIENT_PEM,
    clientCertVersion: 1,
    serverKeys: { 1: SERVER_PUB },
    crypto: nodeCrypto,
    tokenTtlS: 600,
  });
  t.after(() => web.close());
  return web;
}

const post = (web: WebDemo, body: string): Promise<Response> => fetch(`${web.url}token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

test('serves the page, its stylesheet and its bundled script; nothing else', async (t) => {
  const web = await start(t);
  assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(web.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/assets\/app.js"><\/script>/);
  assert.equal((await fetch(`${web.url}style.css`)).status, 200);
  const app = await fetch(`${web.url}assets/app.js`);
  assert.equal(app.status, 200);
  const js = await app.text();
  assert.ok(js.includes('new WebSocket('), "the SDK's browser transport is in the bundle");
  assert.ok(!/from"node:|require\("node:/.test(js), 'no Node built-in in the page script');
  const chunks = [...js.matchAll(/"\.\/([\w-]+\.js)"/g)].map((m) => m[1]!);
  assert.ok(chunks.some((c) => c.startsWith('noble-crypto-')), `the noble chunk is reachable: ${chunks.join(', ')}`);
  for (const c of chunks) assert.equal((await fetch(`${web.url}assets/${c}`)).status, 200, c);
  assert.equal((await fetch(`${web.url}nope`)).status, 404);
  assert.equal((await fetch(`${web.url}assets/../src/index.js`)).status, 404);
  assert.equal((await fetch(`${web.url}token`)).status, 405);
});

test('POST /token: a DEV token for the name that the gateway key opens, and what the SDK needs', async (t) => {
  const web = await start(t);
  const res = await post(web, JSON.stringify({ name: '  alice ' }));
  assert.equal(res.status, 200);
  const r = (await res.json()) as Record<string, unknown>;
  assert.equal(r.name, 'alice');
  assert.equal(r.uid, String(FIRST_WEB_UID));
  assert.deepEqual(r.gateway, { host: '127.0.0.1', port: 17002, path: '/ws' });
  assert.equal(r.clientKeyPem, CLIENT_PEM);
  assert.deepEqual(r.serverKeys, { 1: SERVER_PUB });
  const now = Date.now() / 1000;
  const opened = await openToken(nodeCrypto, [TOKEN_KEY], r.token as string, now);
  assert.equal(opened.accountId, FIRST_WEB_UID);
  assert.equal(opened.status, AuthToken_Status.DEV);
  assert.equal(opened.serverId, 1n);
  assert.ok(Number(opened.timeout) >= Math.floor(now) + 599 && Number(opened.timeout) <= now + 601);
  assert.equal(r.expiresAt, Number(opened.timeout));
  const again = (await (await post(web, '{"name":"ALICE"}')).json()) as { uid: string };
  assert.equal(again.uid, String(FIRST_WEB_UID), 'the same name (any case) is the same uid');
  const bob = (await (await post(web, '{"name":"bob"}')).json()) as { uid: string };
  assert.equal(bob.uid, String(FIRST_WEB_UID + 1n));
});

test('POST /token refuses a bad name or body with 400 and says why', async (t) => {
  const web = await start(t);
  for (const [body, why] of [
    ['{"name":""}', /1\.\.32 characters/],
    [JSON.stringify({ name: 'x'.repeat(33) }), /1\.\.32 characters/],
    ['{"name":"a\\u0007b"}', /control characters/],
    ['{"name":7}', /must be a string/],
    ['{}', /must be a string/],
    ['not json', /not JSON/],
    [JSON.stringify({ name: 'a', pad: 'x'.repeat(2000) }), /over 1024 bytes/],
  ] as const) {
    const res = await post(web, body);
    assert.equal(res.status, 400, body);
    assert.match(((await res.json()) as { error: string }).error, why, body);
  }
});

test('DevTokenIssuer gives uids in order of first use', async () => {
  const issuer = new DevTokenIssuer(nodeCrypto, TOKEN_KEY, 60, 3n);
  assert.equal(issuer.uidOf('b'), FIRST_WEB_UID);
  assert.equal(issuer.uidOf('a'), FIRST_WEB_UID + 1n);
  assert.equal(issuer.uidOf('B'), FIRST_WEB_UID);
  const t = await issuer.issue('c', 1000);
  assert.deepEqual([t.uid, t.name, t.expiresAt], [FIRST_WEB_UID + 2n, 'c', 1060]);
  assert.equal((await openToken(nodeCrypto, [TOKEN_KEY], t.token, 1000)).serverId, 3n);
});
