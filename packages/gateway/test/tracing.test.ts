/**
 * ConnectionSpans (tracing.ts) without sockets: which Packet ends a request span, how the
 * bound ends the oldest, what a closing connection does to the spans still waiting, and the
 * trace context it hands to the tunnel.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { makePacket, readTunnelTraceContext } from '@janus/protocol';
import pino from 'pino';
import { systemClock } from '../src/clock.js';
import { parseConfig } from '../src/config.js';
import { GatewayTracing, type ConnectionSpans } from '../src/tracing.js';
import type { Tunnel } from '../src/tunnel.js';

async function spans(maxOpen = 256): Promise<{ conn: ConnectionSpans; finished: () => ReadableSpan[] }> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracing = await GatewayTracing.start(parseConfig({ tracing: { enabled: true, maxOpenSpansPerConnection: maxOpen } }), pino({ level: 'silent' }), systemClock, provider);
  return { conn: tracing.connection(7), finished: () => exporter.getFinishedSpans() };
}

/** Only what ConnectionSpans reads of a tunnel: its route's name. */
const tunnel = (name: string) => ({ route: { name } }) as unknown as Tunnel;

const req = (index: number) => makePacket({ mod: 3, seq: 1, index });
const outcomes = (s: ReadableSpan[]) => s.map((x) => [x.attributes['janus.index'], x.attributes['janus.outcome']]);

describe('ConnectionSpans', () => {
  it('ends a span at the first Packet with its index; pushes (index 0) and repeats end nothing', async () => {
    const { conn, finished } = await spans();
    const t = tunnel('player');
    conn.start(req(10), 5n);
    conn.start(req(11), 5n);
    conn.forwarded(t, 10);
    conn.forwarded(t, 11);
    conn.replied(0);
    assert.equal(finished().length, 0);
    conn.replied(11);
    conn.replied(11);
    assert.deepEqual(outcomes(finished()), [[11, 'reply']]);
    assert.equal(conn.openCount, 1);
  });

  it('hands the tunnel the span\'s traceparent as TunnelRequest fields, and the same for a stream it opens', async () => {
    const { conn, finished } = await spans();
    conn.start(req(3), 5n);
    const headers = conn.streamHeaders(3);
    const tail = conn.forwarded(tunnel('room'), 3);
    assert.ok(tail && headers);
    const tc = readTunnelTraceContext(tail);
    assert.equal(tc?.traceparent, headers.traceparent);
    conn.replied(3);
    const sc = finished()[0]!.spanContext();
    assert.equal(headers.traceparent, `00-${sc.traceId}-${sc.spanId}-01`);
    assert.equal(finished()[0]!.attributes['janus.service'], 'room');
    assert.equal(conn.forwarded(tunnel('room'), 99), undefined, 'no span, no trace context');
  });

  it('past maxOpenSpansPerConnection ends the oldest as no-reply, at the time it was written', async () => {
    const { conn, finished } = await spans(2);
    const t = tunnel('player');
    const t0 = performance.now();
    conn.start(req(1), 5n);
    conn.forwarded(t, 1);
    const written = performance.now() - t0;
    conn.start(req(2), 5n);
    conn.forwarded(t, 2);
    // Let 5 ms pass on the monotonic clock (a spin, no timer) so that "when written" and
    // "when evicted" are told apart.
    while (performance.now() - t0 < written + 5);
    conn.start(req(3), 5n);
    assert.deepEqual(outcomes(finished()), [[1, 'no-reply']]);
    const d = finished()[0]!.duration;
    const durationMs = d[0] * 1000 + d[1] / 1e6;
    assert.ok(durationMs <= written, `ended when written (${durationMs} ms <= ${written} ms), not when evicted (5 ms later)`);
    assert.equal(conn.openCount, 2);
  });

  it('refusals and tunnel errors end spans with ERROR; closing ends the rest', async () => {
    const { conn, finished } = await spans();
    const a = tunnel('room');
    const b = tunnel('room');
    conn.start(req(1), 5n);
    conn.refused(1, 'no backend for room');
    conn.start(req(2), 5n);
    conn.forwarded(a, 2);
    conn.start(req(3), 5n);
    conn.forwarded(b, 3);
    conn.start(req(4), 5n); // never written: its stream was still opening
    conn.tunnelEnded(a, { code: 14, details: 'backend connection lost' });
    conn.closed();
    const byIndex = new Map(finished().map((s) => [s.attributes['janus.index'], s]));
    assert.deepEqual(outcomes(finished()), [[1, 'refused'], [2, 'tunnel-ended'], [3, 'no-reply'], [4, 'connection-closed']]);
    assert.deepEqual(byIndex.get(1)!.status, { code: SpanStatusCode.ERROR, message: 'no backend for room' });
    assert.deepEqual(byIndex.get(2)!.status, { code: SpanStatusCode.ERROR, message: 'tunnel ended: gRPC status 14 backend connection lost' });
    assert.equal(byIndex.get(3)!.status.code, SpanStatusCode.UNSET);
    assert.equal(conn.openCount, 0);
  });
});
