/**
 * OpenTelemetry tracing of client requests (issue 9; docs/operations.md#tracing; the
 * carrier: docs/decisions/0019-tracing-context.md).
 *
 * Loaded only when `tracing.enabled` is true: gateway.ts imports this module with import(),
 * so a gateway with tracing off never loads an OpenTelemetry package, and its data path
 * pays one null check per hook (the connection's `spans`).
 *
 * One span per client request routed to a backend: it starts when the Packet is taken for
 * routing (after its rate-limit check) and ends at the first Packet the gateway sends back
 * with the request's index: the backend's reply, or the gateway's own ServerUnexpectedErr.
 * Its W3C trace context rides on the TunnelRequest (fields 100/101, PROTOCOL.md 3 lets a
 * backend skip them) and, for a stream the request opens, in the stream metadata
 * (`traceparent`, `tracestate` headers beside PROTOCOL.md 9's). The backend SDK continues
 * the trace. Attributes: janus.mod, janus.seq, janus.obj, janus.index, janus.connection,
 * janus.service, janus.outcome; never a token, key or payload.
 *
 * Bounds: at most `tracing.maxOpenSpansPerConnection` spans wait for a reply per
 * connection; one more ends the oldest. A span whose request got no reply (a backend that
 * answers nothing, a stream that ended quietly, the player stream ending) ends when the
 * connection closes or it is the oldest past the bound, with outcome `no-reply` and its
 * end time set to when the request was written to the tunnel (`connection-closed`, ended
 * then, when it never reached one). An object stream that fails ends its requests' spans
 * at once (`tunnel-ended`, ERROR).
 */
import {
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import { encodeTunnelTraceContext, type Packet } from '@janus/protocol';
import type { Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import type { Tunnel, TunnelStatus } from './tunnel.js';

/** The instrumentation scope name of the gateway's spans. */
export const TRACER_NAME = '@janus/gateway';

/** How a request span ended (attribute `janus.outcome`). */
export type RequestOutcome = 'reply' | 'refused' | 'tunnel-ended' | 'no-reply' | 'connection-closed';

/** W3C trace context headers of one span. */
type Carrier = { traceparent?: string; tracestate?: string };

const propagator = new W3CTraceContextPropagator();

function carrierOf(span: Span): Carrier {
  const c: Carrier = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), c, defaultTextMapSetter);
  return c;
}

/**
 * The OTLP exporter `tracing.otlp` asks for; its package is imported here, on first use
 * (http/protobuf: @opentelemetry/exporter-trace-otlp-proto, http/json: -otlp-http).
 */
export async function otlpSpanExporter(o: GatewayConfig['tracing']['otlp']): Promise<SpanExporter> {
  const config = { url: o.endpoint, headers: { ...o.headers }, timeoutMillis: o.timeoutMs };
  if (o.protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(config);
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(config);
}

/** Failed exports are logged at most once per this interval, with their count (ms). */
export const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * An exporter that reports failed exports (collector down, refused, timed out) to the
 * gateway's log: the first at once, then at most one line per
 * {@link EXPORT_FAILURE_LOG_INTERVAL_MS} with the count since the last line. OpenTelemetry
 * itself only tells its global diagnostics logger, which nobody reads by default.
 */
export class ReportingSpanExporter implements SpanExporter {
  private failedExports = 0;
  private failedSpans = 0;
  private lastLogMs = -Infinity;

  constructor(
    private readonly inner: SpanExporter,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly endpoint: string,
  ) {}

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) this.failed(spans.length, r.error);
      done(r);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }

  private failed(spans: number, err: Error | undefined): void {
    this.failedExports++;
    this.failedSpans += spans;
    const now = this.clock.now();
    if (now - this.lastLogMs < EXPORT_FAILURE_LOG_INTERVAL_MS) return;
    this.lastLogMs = now;
    this.log.warn(
      { endpoint: this.endpoint, err: err?.message ?? 'export failed', failedExports: this.failedExports, droppedSpans: this.failedSpans },
      'trace export failed',
    );
    this.failedExports = 0;
    this.failedSpans = 0;
  }
}

/** A gateway's tracer and, unless the caller brought a provider, the export pipeline it owns. */
export class GatewayTracing {
  private constructor(
    private readonly tracer: Tracer,
    private readonly own: BasicTracerProvider | null,
    private readonly maxOpen: number,
    private readonly log: Logger,
  ) {}

  /**
   * Starts tracing as `cfg.tracing` says: a tracer provider with service.name
   * `tracing.serviceName`, service.instance.id `gateway.id`, a parent-based ratio sampler
   * (`tracing.sampleRatio`) and a batch processor exporting over OTLP (`tracing.otlp`).
   * Failed exports are logged on `log` (see {@link ReportingSpanExporter}).
   * @param provider a provider of the caller's instead (an embedding application's SDK, a
   *   test's in-memory exporter): its sampler and exporter apply, and close() leaves it running.
   */
  static async start(cfg: GatewayConfig, log: Logger, clock: Clock, provider?: TracerProvider): Promise<GatewayTracing> {
    const t = cfg.tracing;
    let own: BasicTracerProvider | null = null;
    if (!provider) {
      const exporter = new ReportingSpanExporter(await otlpSpanExporter(t.otlp), log, clock, t.otlp.endpoint);
      own = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': t.serviceName, 'service.instance.id': cfg.gateway.id }),
        sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(t.sampleRatio) }),
        spanProcessors: [
          new BatchSpanProcessor(exporter, {
            maxQueueSize: t.maxQueueSpans,
            maxExportBatchSize: Math.min(512, t.maxQueueSpans),
            scheduledDelayMillis: t.exportDelayMs,
            // The exporter's own timeout (otlp.timeoutMs) fires first and reports the failure.
            exportTimeoutMillis: t.otlp.timeoutMs + 1000,
          }),
        ],
      });
      provider = own;
    }
    return new GatewayTracing(provider.getTracer(TRACER_NAME), own, t.maxOpenSpansPerConnection, log);
  }

  /** The request spans of one client connection (`connId`: the gateway's connection id). */
  connection(connId: number): ConnectionSpans {
    return new ConnectionSpans(this.tracer, this.maxOpen, connId);
  }

  /**
   * Exports what is queued and stops the pipeline this gateway owns (not a caller's
   * provider). Never rejects: a failed last export is logged (the spans are lost).
   */
  async shutdown(): Promise<void> {
    try {
      await this.own?.shutdown();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'trace export at shutdown failed');
    }
  }
}

interface OpenSpan {
  span: Span;
  /** The tunnel the request was written to (null: not yet). */
  tunnel: Tunnel | null;
  /** performance.now() when written to the tunnel (0: not yet). */
  forwardedAt: number;
}

/**
 * The request spans of one connection that wait for their reply, by request index (a
 * connection's indexes never repeat, PROTOCOL.md 8). Bounded; see the module comment.
 */
export class ConnectionSpans {
  private readonly open = new Map<number, OpenSpan>();

  constructor(
    private readonly tracer: Tracer,
    private readonly maxOpen: number,
    private readonly connId: number,
  ) {}

  /** Spans waiting for their reply (tests, stats). */
  get openCount(): number {
    return this.open.size;
  }

  /**
   * A request arrived for routing: starts its span, a root (clients send no trace context).
   * @param obj the object id it is routed by (the session's uid for obj 0).
   */
  start(p: Packet, obj: bigint): void {
    if (this.open.size >= this.maxOpen) {
      const oldest = this.open.keys().next().value as number;
      this.giveUp(oldest, this.open.get(oldest)!);
    }
    const span = this.tracer.startSpan(
      `janus.request ${p.mod}/${p.seq}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'janus.mod': p.mod,
          'janus.seq': p.seq,
          'janus.obj': obj.toString(),
          'janus.index': p.index,
          'janus.connection': this.connId,
        },
      },
      ROOT_CONTEXT,
    );
    this.open.set(p.index, { span, tunnel: null, forwardedAt: 0 });
  }

  /**
   * The request is being written to `t`: returns its trace context as TunnelRequest fields
   * (protocol's tunnel-trace.ts) to append to the message; undefined when it has no span.
   */
  forwarded(t: Tunnel, index: number): Uint8Array | undefined {
    const e = this.open.get(index);
    if (!e) return undefined;
    e.tunnel = t;
    e.forwardedAt = performance.now();
    e.span.setAttribute('janus.service', t.route.name);
    const c = carrierOf(e.span);
    return c.traceparent ? encodeTunnelTraceContext({ traceparent: c.traceparent, tracestate: c.tracestate ?? '' }) : undefined;
  }

  /** The W3C headers of request `index`'s span, for the metadata of a stream it opens. */
  streamHeaders(index: number): Record<string, string> | undefined {
    const e = this.open.get(index);
    if (!e) return undefined;
    const c = carrierOf(e.span);
    if (!c.traceparent) return undefined;
    return c.tracestate ? { traceparent: c.traceparent, tracestate: c.tracestate } : { traceparent: c.traceparent };
  }

  /** A Packet from a backend arrived: its index (0: a push) ends that request's span. */
  replied(index: number): void {
    if (index === 0) return;
    const e = this.open.get(index);
    if (e) this.finish(index, e, 'reply');
  }

  /** The gateway answered request `index` with ServerUnexpectedErr `msg` (not delivered). */
  refused(index: number, msg: string): void {
    const e = this.open.get(index);
    if (!e) return;
    e.span.setStatus({ code: SpanStatusCode.ERROR, message: msg });
    this.finish(index, e, 'refused');
  }

  /** Tunnel `t` ended with an error status: the requests waiting on it end with that status. */
  tunnelEnded(t: Tunnel, status: TunnelStatus): void {
    for (const [index, e] of this.open) {
      if (e.tunnel !== t) continue;
      e.span.setStatus({ code: SpanStatusCode.ERROR, message: `tunnel ended: gRPC status ${status.code} ${status.details}` });
      this.finish(index, e, 'tunnel-ended');
    }
  }

  /** The connection closed: every waiting span ends (see {@link giveUp}). */
  closed(): void {
    for (const [index, e] of this.open) this.giveUp(index, e);
  }

  /**
   * Ends a span that got no reply: written to a backend, it ends `no-reply` at the moment
   * it was written (what the gateway did for it ended there); never written (the
   * connection closed while its stream was opening), `connection-closed` now.
   */
  private giveUp(index: number, e: OpenSpan): void {
    if (e.forwardedAt === 0) this.finish(index, e, 'connection-closed');
    else this.finish(index, e, 'no-reply', e.forwardedAt);
  }

  private finish(index: number, e: OpenSpan, outcome: RequestOutcome, endTime?: number): void {
    this.open.delete(index);
    e.span.setAttribute('janus.outcome', outcome);
    e.span.end(endTime);
  }
}
