/**
 * The browser build of the SDK (esbuild, see test/support/bundle.ts): what it contains, that
 * the `browser` export condition selects it, and its size budget (docs/client-sdk.md,
 * "Bundle size"). Sizes are gzip -9 of minified ESM; a change that passes a budget must
 * say why in the docs and raise the budget here.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleForBrowser, type BundleFile } from './support/bundle.js';

/** gzip bytes a page downloads before its first connect (the entry and its static chunks). */
const INITIAL_BUDGET_GZIP = 40_000;
/** gzip bytes of the noble chunk, fetched only where WebCrypto lacks Ed25519 or X25519. */
const NOBLE_BUDGET_GZIP = 24_000;

// Compiled tests run from packages/client/dist/test.
const clientDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const browserEntry = join(clientDir, 'dist', 'src', 'browser.js');

const sum = (files: BundleFile[]): number => files.reduce((n, f) => n + f.gzipBytes, 0);

test('the browser bundle: browser code only, the noble back end in its own chunk, within its size budget', async (t) => {
  const b = await bundleForBrowser(browserEntry);
  assert.deepEqual(b.packages, ['@bufbuild/protobuf', '@noble/ciphers', '@noble/curves', '@noble/hashes', 'eventemitter3'], 'packages in the bundle (no ws)');
  const all = b.files.flatMap((f) => f.inputs);
  for (const nodeOnly of ['client/dist/src/tcp.js', 'client/dist/src/ws.js', 'client/dist/src/compress.js', 'client/dist/src/platform-node.js', 'protocol/dist/src/node.js', 'protocol/dist/src/crypto/node.js']) {
    assert.ok(!all.some((i) => i.endsWith(nodeOnly)), `${nodeOnly} is in the browser bundle`);
  }
  const noble = b.files.filter((f) => f.entryPoint?.endsWith('noble-crypto.js'));
  assert.equal(noble.length, 1, `one noble chunk: ${b.files.map((f) => f.name).join(', ')}`);
  const initial = b.files.filter((f) => f !== noble[0]);
  assert.ok(initial.some((f) => f.name === 'browser.js'));
  for (const f of initial) assert.ok(!f.inputs.some((i) => i.includes('@noble/')), `${f.name} holds noble code: it would load without the fallback`);
  const text = new TextDecoder().decode(initial.find((f) => f.name === 'browser.js')!.contents);
  assert.match(text, /import\("\.\/noble-crypto-[A-Z0-9]+\.js"\)/, 'the entry loads the noble chunk with a dynamic import');

  const initialGzip = sum(initial);
  const nobleGzip = sum(noble);
  t.diagnostic(`initial: ${initial.map((f) => `${f.name} ${f.contents.length} B (gzip ${f.gzipBytes} B)`).join(', ')}; total gzip ${initialGzip} B`);
  t.diagnostic(`noble chunk: ${noble[0]!.contents.length} B (gzip ${nobleGzip} B)`);
  assert.ok(initialGzip <= INITIAL_BUDGET_GZIP, `initial bundle ${initialGzip} B gzip is over its budget ${INITIAL_BUDGET_GZIP} B`);
  assert.ok(nobleGzip <= NOBLE_BUDGET_GZIP, `noble chunk ${nobleGzip} B gzip is over its budget ${NOBLE_BUDGET_GZIP} B`);
});

test("a bundler targeting browsers resolves '@janus/client' to the browser entry, Node to the Node entry", async () => {
  const resolved = async (platform: 'browser' | 'node'): Promise<string[]> => {
    const r = await build({
      stdin: { contents: "export { JanusClient } from '@janus/client';", resolveDir: clientDir, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform,
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['ws', '@janus/protocol', '@noble/*', 'eventemitter3'],
    });
    return Object.keys(r.metafile.inputs).filter((i) => i.includes('client/dist/src/'));
  };
  const browser = await resolved('browser');
  assert.ok(browser.some((i) => i.endsWith('client/dist/src/browser.js')), browser.join(', '));
  assert.ok(!browser.some((i) => i.endsWith('client/dist/src/index.js')));
  const node = await resolved('node');
  assert.ok(node.some((i) => i.endsWith('client/dist/src/index.js')), node.join(', '));
  assert.ok(!node.some((i) => i.endsWith('client/dist/src/browser.js')));
});

test("docs/client-sdk.md's browser example bundles for browsers as it stands", async () => {
  const doc = readFileSync(join(clientDir, '..', '..', 'docs', 'client-sdk.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## In a browser'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example !== undefined && example.includes("from '@janus/client'"), 'no ts example in "In a browser"');
  const r = await build({
    stdin: { contents: example, resolveDir: clientDir, loader: 'ts', sourcefile: 'client-sdk.md example' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    outdir: '/example',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  assert.ok(Object.keys(r.metafile!.inputs).some((i) => i.endsWith('client/dist/src/browser.js')));
});
