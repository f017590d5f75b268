/**
 * TunnelServer with a tracerProvider (docs/backend-sdk.md#tracing): a span per handled
 * request, the child of the trace context a TunnelRequest carries (fields 100/101), a root
 * without one, ended once the handler has settled, ERROR when it fails.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  encodeTunnelMessage,
  encodeTunnelTraceContext,
  makeTunnelMessage,
  TUNNEL_PATHS,
  utf8,
  type TunnelMessage,
  type TunnelTraceContext,
} from '@janus/protocol';
import { deserializeTunnelMessage, TunnelServer, tunnelMetadata, type TunnelHandlers } from '../src/index.js';

const PATH = TUNNEL_PATHS.player;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

/** A traced server at PATH, its in-memory spans, and a raw client whose requests carry `trace`. */
async function setup(t: TestContext, handlers: TunnelHandlers) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const server = new TunnelServer({ tracerProvider: provider }).addService(PATH, handlers);
  const port = await server.listen('127.0.0.1', 0);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    server.destroy();
    await provider.shutdown();
  });
  /** Opens a stream; each write carries the given trace context (or none). */
  const open = () => {
    const received: TunnelMessage[] = [];
    const waiters: Array<() => void> = [];
    let trace: TunnelTraceContext | null = null;
    const call = client.makeBidiStreamRequest(
      PATH,
      (m: TunnelMessage) => Buffer.from(encodeTunnelMessage(m, 0, trace ? encodeTunnelTraceContext(trace) : undefined)),
      deserializeTunnelMessage,
      tunnelMetadata({ oid: 61n, uid: 61n, sid: 0n, status: 0, color: '', clientIp: '', referer: '', gateReferer: '' }),
    );
    call.on('data', (m: TunnelMessage) => {
      received.push(m);
      waiters.shift()?.();
    });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    return {
      send(m: Partial<TunnelMessage>, tc: TunnelTraceContext | null) {
        trace = tc;
        call.write(makeTunnelMessage(m));
      },
      async next(): Promise<TunnelMessage> {
        if (received.length === 0) await new Promise<void>((r) => waiters.push(r));
        return received.shift()!;
      },
      status,
      end: () => call.end(),
    };
  };
  return { exporter, open };
}

test('a request with a trace context: the span is its remote child, tracestate kept', async (t) => {
  const { exporter, open } = await setup(t, { onMessage: (_ctx, req) => req.data });
  const s = open();
  s.send({ mod: 3, seq: 8, obj: 61n, index: 12, data: utf8('secret body') }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'janus=t1' });
  assert.equal((await s.next()).index, 12);
  const [span] = exporter.getFinishedSpans();
  assert.ok(span);
  assert.equal(span.name, 'janus.handle 3/8');
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.spanContext().traceId, TRACE_ID);
  assert.equal(span.parentSpanContext?.spanId, PARENT_ID);
  assert.equal(span.parentSpanContext?.isRemote, true);
  assert.equal(span.spanContext().traceState?.get('janus'), 't1');
  assert.deepEqual(span.attributes, { 'janus.mod': 3, 'janus.seq': 8, 'janus.obj': '61', 'janus.index': 12, 'janus.oid': '61' });
  assert.equal(span.status.code, SpanStatusCode.UNSET);
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
});

test('a request without a trace context (or with a malformed one) gets a root span', async (t) => {
  const { exporter, open } = await setup(t, { onMessage: (_ctx, req) => req.data });
  const s = open();
  s.send({ mod: 3, seq: 1, index: 1 }, null);
  s.send({ mod: 3, seq: 2, index: 2 }, { traceparent: 'not-a-traceparent', tracestate: '' });
  await s.next();
  await s.next();
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(spans.map((x) => x.name), ['janus.handle 3/1', 'janus.handle 3/2']);
  for (const x of spans) assert.equal(x.parentSpanContext, undefined);
  assert.notEqual(spans[0]!.spanContext().traceId, spans[1]!.spanContext().traceId);
  s.end();
  await s.status;
});

test('the span of an async handler ends when it settles; a failing handler marks it ERROR', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const handling = new Promise<void>((r) => (started = r));
  const { exporter, open } = await setup(t, {
    async onMessage(_ctx, req) {
      if (req.seq === 2) throw new TypeError('bad request 0xdeadbeef');
      started();
      await gate;
      return req.data;
    },
  });
  const s = open();
  s.send({ mod: 3, seq: 1, index: 1 }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: '' });
  await handling;
  assert.equal(exporter.getFinishedSpans().length, 0, 'still running: not ended');
  release();
  await s.next();
  assert.equal(exporter.getFinishedSpans().length, 1);
  s.send({ mod: 3, seq: 2, index: 2 }, null);
  const status = await s.status;
  assert.equal(status.code, grpc.status.INTERNAL);
  const failed = exporter.getFinishedSpans()[1]!;
  assert.equal(failed.name, 'janus.handle 3/2');
  assert.equal(failed.status.code, SpanStatusCode.ERROR);
  assert.equal(failed.status.message, 'handler failed: TypeError', 'the class, not the message text');
});

test('without a tracerProvider no OpenTelemetry module is loaded; with one, listen() loads the tracing module', async () => {
  // A process of its own: this file imports OpenTelemetry. The packages load as CommonJS.
  const index = pathToFileURL(join(import.meta.dirname, '..', 'src', 'index.js')).href;
  const script = `
    import { createRequire } from 'node:module';
    import { TunnelServer } from ${JSON.stringify(index)};
    const cache = createRequire(import.meta.url).cache;
    const otel = () => [...new Set(Object.keys(cache).filter((k) => k.includes('@opentelemetry')).map((k) => k.split('@opentelemetry/')[1].split('/')[0]))].sort();
    const handlers = { onMessage: () => undefined };
    const off = new TunnelServer().addService('/a.B/C', handlers);
    await off.listen('127.0.0.1', 0);
    const whenOff = otel();
    await off.close();
    const on = new TunnelServer({ tracerProvider: { getTracer: () => ({}) } }).addService('/a.B/C', handlers);
    await on.listen('127.0.0.1', 0);
    const whenOn = otel();
    await on.close();
    console.log(JSON.stringify({ whenOff, whenOn }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  const { whenOff, whenOn } = JSON.parse(stdout.trim().split('\n').pop()!) as { whenOff: string[]; whenOn: string[] };
  assert.deepEqual(whenOff, []);
  for (const pkg of ['api', 'core']) assert.ok(whenOn.includes(pkg), `loads ${pkg}: ${whenOn.join(', ')}`);
});
