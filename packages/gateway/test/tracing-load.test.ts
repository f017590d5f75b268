/**
 * Tracing off loads no OpenTelemetry SDK or exporter (issue 9 item 3; decision 0019; only
 * the API package, which prom-client requires itself): a fresh Node
 * process starts a gateway with tracing off and reports the OpenTelemetry modules in its
 * module cache (the OpenTelemetry packages load as CommonJS), then starts one with tracing
 * on. A process of its own, because this test runner's other files import OpenTelemetry.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const execFileP = promisify(execFile);
const GATEWAY = pathToFileURL(join(import.meta.dirname, '..', 'src', 'index.js')).href;

const SCRIPT = `
import { createRequire } from 'node:module';
import { createGateway, keygen, parseConfig } from ${JSON.stringify(GATEWAY)};
const cache = createRequire(import.meta.url).cache;
const otel = () => [...new Set(Object.keys(cache).filter((k) => k.includes('@opentelemetry')).map((k) => k.split('@opentelemetry/')[1].split('/')[0]))].sort();
const dir = process.argv[1];
await keygen({ outDir: dir });
const base = { listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 } }, management: { enabled: false }, discovery: { static: { 'roma.player.service': [{ id: 'p', endpoints: ['grpc://127.0.0.1:1'] }] } }, keys: { dir }, log: { level: 'silent' } };
const off = await createGateway(parseConfig(base));
const whenOff = otel();
await off.close();
const on = await createGateway(parseConfig({ ...base, tracing: { enabled: true, otlp: { endpoint: 'http://127.0.0.1:1/v1/traces' } } }));
const whenOn = otel();
await on.close();
console.log(JSON.stringify({ whenOff, whenOn }));
`;

describe('tracing: loading', () => {
  it('a gateway with tracing off loads no OpenTelemetry SDK or exporter; with it on, the SDK and the configured exporter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-trace-load-'));
    try {
      const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', SCRIPT, join(dir, 'keys')], { timeout: 60_000 });
      const { whenOff, whenOn } = JSON.parse(stdout.trim().split('\n').pop()!) as { whenOff: string[]; whenOn: string[] };
      // The API package alone: prom-client (the metrics) requires it itself for exemplars.
      assert.deepEqual(whenOff, ['api'], 'tracing off: no OpenTelemetry SDK or exporter loaded');
      for (const pkg of ['api', 'sdk-trace-base', 'exporter-trace-otlp-proto']) assert.ok(whenOn.includes(pkg), `tracing on loads ${pkg}: ${whenOn.join(', ')}`);
      assert.ok(!whenOn.includes('exporter-trace-otlp-http'), 'only the configured exporter (http/protobuf)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
