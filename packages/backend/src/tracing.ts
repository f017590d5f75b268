/**
 * OpenTelemetry spans of handled tunnel requests (docs/backend-sdk.md#tracing; the carrier:
 * docs/decisions/0019-tracing-context.md).
 *
 * Loaded only when a TunnelServer is given a `tracerProvider`: server.ts imports this module
 * with import() in listen(), so a backend without tracing never loads an OpenTelemetry
 * module. One span per request handed to onMessage, from the hand-off until the handler
 * has settled (its reply written). Its parent is the gateway's request span when the
 * TunnelRequest carries a trace context (fields 100/101, @janus/protocol tunnel-trace.ts);
 * otherwise it is a root. The handler runs with the span active, so spans the handler
 * starts (with a context manager registered, e.g. by @opentelemetry/sdk-trace-node) are
 * its children. Attributes: janus.mod, janus.seq, janus.obj, janus.index, janus.oid; never
 * a token, key or payload.
 */
import {
  context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { TunnelMessage, TunnelTraceContext } from '@janus/protocol';

/** The instrumentation scope name of the backend SDK's spans. */
export const TRACER_NAME = '@janus/backend';

const propagator = new W3CTraceContextPropagator();

/** The span of one handled request: run the handler inside it, then end it once. */
export class HandledRequestSpan {
  private ended = false;

  constructor(
    private readonly span: Span,
    private readonly active: Context,
  ) {}

  /** Runs `fn` with this span as the active span (for the handler's own spans). */
  run<T>(fn: () => T): T {
    return context.with(this.active, fn);
  }

  /** Ends the span; `error` (a handler's throw or rejection) marks it ERROR. Idempotent. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) {
      // The status says that the handler failed and how (the error's class), not its text:
      // a message may quote request data.
      const kind = error instanceof Error ? error.name : typeof error;
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: `handler failed: ${kind}` });
    }
    this.span.end();
  }
}

/** Makes the request spans of a TunnelServer. */
export class BackendTracing {
  private readonly tracer: Tracer;

  /**
   * @param provider the application's tracer provider.
   * @param traceOf the trace context read off each received request (by the server's deserializer).
   */
  constructor(
    provider: TracerProvider,
    private readonly traceOf: WeakMap<TunnelMessage, TunnelTraceContext>,
  ) {
    this.tracer = provider.getTracer(TRACER_NAME);
  }

  /** Starts the span of `req`, received on the stream of object `oid`. */
  begin(oid: bigint, req: TunnelMessage): HandledRequestSpan {
    const tc = this.traceOf.get(req);
    const parent = tc ? propagator.extract(ROOT_CONTEXT, tc, defaultTextMapGetter) : ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      `janus.handle ${req.mod}/${req.seq}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'janus.mod': req.mod,
          'janus.seq': req.seq,
          'janus.obj': req.obj.toString(),
          'janus.index': req.index,
          'janus.oid': oid.toString(),
        },
      },
      parent,
    );
    return new HandledRequestSpan(span, trace.setSpan(parent, span));
  }
}
