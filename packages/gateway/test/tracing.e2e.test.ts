/**
 * OpenTelemetry tracing end to end (issue 9 item 3): a client request's span at the
 * gateway, its trace context carried to the backend (TunnelRequest fields 100/101, and the
 * stream metadata of a stream it opens), the backend SDK's span as its child; requests the
 * gateway refuses; tracing off; and the OTLP exporter (http/protobuf, http/json) posting to
 * a collector on loopback.
 */
import { strict as assert } from 'node:assert';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import pino from 'pino';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { decodeMessage, SCServerUnexpectedErrSchema, TUNNEL_PATHS } from '@janus/protocol';
import { TunnelServer } from '@janus/backend';
import type { GatewayConfigInput } from '../src/index.js';
import { loggedIn, str, text } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A provider exporting synchronously into memory: a span is readable as soon as it ends. */
function memoryProvider(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}

interface TracedBackend {
  port: number;
  exporter: InMemorySpanExporter;
  /** `traceparent` of each stream's metadata, by path and oid. */
  streamTraceparents: Map<string, string | undefined>;
}

/** A player and a room service on the backend SDK, tracing into memory; echoes each request. */
async function tracedBackend(traced = true): Promise<TracedBackend> {
  const { provider, exporter } = memoryProvider();
  const streamTraceparents = new Map<string, string | undefined>();
  const handlers = (path: string) => ({
    onOpen(ctx: { oid: bigint; metadata: { get(k: string): unknown[] } }) {
      streamTraceparents.set(`${path} ${ctx.oid}`, ctx.metadata.get('traceparent')[0] as string | undefined);
    },
    onMessage: (_ctx: unknown, req: { data: Uint8Array }) => req.data,
  });
  const server = new TunnelServer(traced ? { tracerProvider: provider } : {})
    .addService(TUNNEL_PATHS.player, handlers(TUNNEL_PATHS.player))
    .addService(TUNNEL_PATHS.room, handlers(TUNNEL_PATHS.room));
  const port = await server.listen('127.0.0.1', 0);
  cleanups.push(async () => {
    await server.close();
    await provider.shutdown();
  });
  return { port, exporter, streamTraceparents };
}

async function stackFor(
  backendPort: number,
  o: { config?: GatewayConfigInput; tracerProvider?: BasicTracerProvider; logger?: pino.Logger } = {},
): Promise<Stack> {
  const instances = [{ id: 'traced-1', endpoints: [`grpc://127.0.0.1:${backendPort}`] }];
  const s = await startStack({
    noBackend: true,
    tracerProvider: o.tracerProvider,
    logger: o.logger,
    config: {
      discovery: { static: { 'roma.player.service': instances, 'roma.room.service': instances } },
      tracing: { enabled: true },
      ...o.config,
    },
  });
  cleanups.push(() => s.stop());
  return s;
}

function only(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span named ${name}, got ${spans.map((s) => s.name).join(', ')}`);
  return found[0]!;
}

describe('tracing', () => {
  it('one trace crosses gateway and backend: the backend span is the child of the request span', async () => {
    const backend = await tracedBackend();
    const gw = memoryProvider();
    cleanups.push(() => gw.provider.shutdown());
    const s = await stackFor(backend.port, { tracerProvider: gw.provider });
    const c = await loggedIn(s, 'tcp', 501);
    const secret = 'payload-never-an-attribute';
    const player = c.send({ mod: 3, seq: 7, data: text(secret) });
    const reply = await c.nextPacket();
    assert.deepEqual([reply?.mod, reply?.seq, reply?.index, str(reply?.data)], [3, 7, player.index, secret]);
    const room = c.send({ mod: 4, seq: 2, obj: 77n, data: text('room') });
    assert.equal((await c.nextPacket())?.index, room.index);

    const gwSpans = gw.exporter.getFinishedSpans();
    const beSpans = backend.exporter.getFinishedSpans();
    const gPlayer = only(gwSpans, 'janus.request 3/7');
    const bPlayer = only(beSpans, 'janus.handle 3/7');
    assert.equal(gPlayer.kind, SpanKind.SERVER);
    assert.equal(gPlayer.parentSpanContext, undefined, 'a client request starts a trace');
    assert.equal(bPlayer.spanContext().traceId, gPlayer.spanContext().traceId, 'same trace');
    assert.equal(bPlayer.parentSpanContext?.spanId, gPlayer.spanContext().spanId, 'the backend span is the gateway span\'s child');
    assert.equal(bPlayer.parentSpanContext?.isRemote, true);
    assert.deepEqual(gPlayer.attributes, {
      'janus.mod': 3,
      'janus.seq': 7,
      'janus.obj': '501',
      'janus.index': player.index,
      'janus.connection': gPlayer.attributes['janus.connection'],
      'janus.service': 'player',
      'janus.outcome': 'reply',
    });
    assert.equal(typeof gPlayer.attributes['janus.connection'], 'number');
    assert.deepEqual(bPlayer.attributes, { 'janus.mod': 3, 'janus.seq': 7, 'janus.obj': '501', 'janus.index': player.index, 'janus.oid': '501' });
    assert.equal(gPlayer.status.code, SpanStatusCode.UNSET);

    const gRoom = only(gwSpans, 'janus.request 4/2');
    const bRoom = only(beSpans, 'janus.handle 4/2');
    assert.notEqual(gRoom.spanContext().traceId, gPlayer.spanContext().traceId, 'each request is its own trace');
    assert.equal(bRoom.spanContext().traceId, gRoom.spanContext().traceId);
    assert.equal(bRoom.parentSpanContext?.spanId, gRoom.spanContext().spanId);
    assert.equal(gRoom.attributes['janus.obj'], '77');
    assert.equal(gRoom.attributes['janus.service'], 'room');
    // The room stream was opened by this request: its metadata carries the request's context.
    const sc = gRoom.spanContext();
    assert.equal(backend.streamTraceparents.get(`${TUNNEL_PATHS.room} 77`), `00-${sc.traceId}-${sc.spanId}-01`);
    // The player stream opened at login, before any request: no trace context on it.
    assert.equal(backend.streamTraceparents.get(`${TUNNEL_PATHS.player} 501`), undefined);

    for (const span of [...gwSpans, ...beSpans]) {
      for (const v of Object.values(span.attributes)) assert.ok(!String(v).includes(secret), 'no payload in an attribute');
    }
    c.close();
  });

  it('a request the gateway cannot deliver ends its span with ERROR and the ServerUnexpectedErr text', async () => {
    const backend = await tracedBackend();
    const gw = memoryProvider();
    cleanups.push(() => gw.provider.shutdown());
    const s = await stackFor(backend.port, {
      tracerProvider: gw.provider,
      config: {
        services: {
          player: { path: TUNNEL_PATHS.player, discoveryName: 'roma.player.service' },
          room: { path: TUNNEL_PATHS.room, discoveryName: 'roma.room.service' },
          nowhere: { path: '/nowhere.v1.TunnelService/Tunnel', discoveryName: 'nowhere.service' },
        },
        routes: [{ mod: 4, seq: 9, service: 'nowhere' }],
      },
    });
    const c = await loggedIn(s, 'ws', 502);
    const req = c.send({ mod: 4, seq: 9, obj: 5n, data: text('x') });
    const err = await c.nextPacket();
    assert.deepEqual([err?.mod, err?.seq, err?.index], [1, 3, req.index]);
    const msg = decodeMessage(SCServerUnexpectedErrSchema, err!.data).msg;
    const span = only(gw.exporter.getFinishedSpans(), 'janus.request 4/9');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.status.message, msg);
    assert.equal(span.attributes['janus.outcome'], 'refused');
    assert.equal(backend.exporter.getFinishedSpans().length, 0, 'no backend saw it');
    c.close();
  });

  it('with tracing off the gateway makes no span and sends no trace context: backend spans are roots', async () => {
    const backend = await tracedBackend();
    const gw = memoryProvider();
    cleanups.push(() => gw.provider.shutdown());
    const s = await stackFor(backend.port, { tracerProvider: gw.provider, config: { tracing: { enabled: false } } });
    const c = await loggedIn(s, 'tcp', 503);
    const req = c.send({ mod: 3, seq: 1, data: text('off') });
    assert.equal((await c.nextPacket())?.index, req.index);
    const room = c.send({ mod: 4, seq: 1, obj: 9n, data: text('off') });
    assert.equal((await c.nextPacket())?.index, room.index);
    assert.equal(gw.exporter.getFinishedSpans().length, 0, 'no gateway span (the provider is ignored)');
    const b = only(backend.exporter.getFinishedSpans(), 'janus.handle 3/1');
    assert.equal(b.parentSpanContext, undefined, 'no trace context arrived');
    assert.equal(backend.streamTraceparents.get(`${TUNNEL_PATHS.room} 9`), undefined);
    c.close();
  });

  it('a backend without tracing serves a traced gateway (the trace fields are skipped as unknown)', async () => {
    const backend = await tracedBackend(false);
    const gw = memoryProvider();
    cleanups.push(() => gw.provider.shutdown());
    const s = await stackFor(backend.port, { tracerProvider: gw.provider });
    const c = await loggedIn(s, 'tcp', 504);
    const req = c.send({ mod: 3, seq: 4, data: text('plain backend') });
    const reply = await c.nextPacket();
    assert.deepEqual([reply?.index, str(reply?.data)], [req.index, 'plain backend']);
    assert.equal(only(gw.exporter.getFinishedSpans(), 'janus.request 3/4').attributes['janus.outcome'], 'reply');
    assert.equal(backend.exporter.getFinishedSpans().length, 0);
    c.close();
  });
});

interface Export {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An OTLP/HTTP collector on loopback: records every export and answers 200. */
async function collector(): Promise<{ url: string; next(): Promise<Export> }> {
  const got: Export[] = [];
  const waiters: Array<(e: Export) => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const e = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const json = (req.headers['content-type'] ?? '').includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
      const w = waiters.shift();
      if (w) w(e);
      else got.push(e);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    next: () => {
      const e = got.shift();
      return e ? Promise.resolve(e) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

describe('tracing over OTLP', () => {
  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`exports the request span to tracing.otlp.endpoint over ${protocol} (flushed by close)`, async () => {
      const backend = await tracedBackend();
      const otlp = await collector();
      const s = await stackFor(backend.port, {
        config: {
          gateway: { id: 'gw-otlp' },
          tracing: { enabled: true, serviceName: 'janus-under-test', otlp: { endpoint: otlp.url, protocol, headers: { 'x-collector-key': 'k1' } } },
        },
      });
      const c = await loggedIn(s, 'tcp', 505);
      const req = c.send({ mod: 3, seq: 5, data: text('exported') });
      assert.equal((await c.nextPacket())?.index, req.index);
      c.close();
      const exported = otlp.next();
      await s.gw.close(); // flushes the batch
      const e = await exported;
      const parent = only(backend.exporter.getFinishedSpans(), 'janus.handle 3/5').parentSpanContext!;
      assert.equal(e.path, '/v1/traces');
      assert.equal(e.headers['x-collector-key'], 'k1');
      if (protocol === 'http/json') {
        assert.match(e.headers['content-type'] ?? '', /^application\/json/);
        const body = JSON.parse(e.body.toString('utf8')) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; spanId: string }> }>;
          }>;
        };
        const rs = body.resourceSpans[0]!;
        const attr = (k: string) => rs.resource.attributes.find((a) => a.key === k)?.value.stringValue;
        assert.equal(attr('service.name'), 'janus-under-test');
        assert.equal(attr('service.instance.id'), 'gw-otlp');
        const span = rs.scopeSpans.flatMap((x) => x.spans).find((x) => x.name === 'janus.request 3/5');
        assert.equal(span?.traceId, parent.traceId);
        assert.equal(span?.spanId, parent.spanId);
      } else {
        assert.equal(e.headers['content-type'], 'application/x-protobuf');
        // OTLP protobuf carries ids as raw bytes and names as UTF-8 strings.
        assert.ok(e.body.includes(Buffer.from(parent.traceId, 'hex')), 'the trace id');
        assert.ok(e.body.includes(Buffer.from(parent.spanId, 'hex')), 'the span id');
        assert.ok(e.body.includes(Buffer.from('janus.request 3/5')), 'the span name');
        assert.ok(e.body.includes(Buffer.from('janus-under-test')), 'service.name');
      }
    });
  }

  it('a collector that never answers: close() still resolves, and the failed export is logged', async () => {
    const backend = await tracedBackend();
    const held: Socket[] = [];
    const blackhole = createTcpServer((sock) => {
      held.push(sock);
      sock.resume();
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const h of held) h.destroy();
      await new Promise<void>((resolve) => blackhole.close(() => resolve()));
    });
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const endpoint = `http://127.0.0.1:${(blackhole.address() as { port: number }).port}/v1/traces`;
    const s = await stackFor(backend.port, {
      logger: pino({ level: 'warn' }, sink),
      config: { tracing: { enabled: true, otlp: { endpoint, timeoutMs: 300 } } },
    });
    const c = await loggedIn(s, 'tcp', 506);
    const req = c.send({ mod: 3, seq: 6, data: text('lost span') });
    assert.equal((await c.nextPacket())?.index, req.index);
    c.close();
    await s.gw.close(); // resolves, does not reject with the export's timeout
    assert.ok(held.length >= 1, 'the export reached the collector');
    const warn = lines.find((l) => l.msg === 'trace export failed');
    assert.ok(warn, `a warning, got ${JSON.stringify(lines)}`);
    assert.equal(warn.endpoint, endpoint);
    assert.equal(warn.droppedSpans, 1);
    assert.equal(warn.failedExports, 1);
  });
});
