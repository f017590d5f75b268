/**
 * TunnelServer: a grpc-js server that serves tunnel services (PROTOCOL.md 9) with
 * {@link TunnelHandlers}. One server can serve several method paths (player, room, ...).
 *
 * Lifecycle: open (addService/listen) -> closing (close(): every open stream ends with OK,
 * new streams are refused with UNAVAILABLE, grpc-js tryShutdown waits for connections to
 * finish) -> closed. destroy() cuts at any point: grpc-js forceShutdown, no statuses sent.
 * Both verbs are idempotent.
 */
import * as grpc from '@grpc/grpc-js';
import type { TracerProvider } from '@opentelemetry/api';
import { ErrorCode, JanusError, readTunnelTraceContext, type TunnelMessage, type TunnelTraceContext } from '@janus/protocol';
import { deserializeTunnelMessage, tunnelServiceDefinition } from './definition.js';
import { readTunnelMetadata } from './metadata.js';
import { TunnelStream, type TunnelCall, type TunnelHandlers } from './stream.js';
import type { BackendTracing } from './tracing.js';

/** Options of a {@link TunnelServer}. */
export interface TunnelServerOptions {
  /** Passed to `new grpc.Server()` (message size limits, keepalive, ...). Default: none. */
  grpcOptions?: grpc.ServerOptions;
  /**
   * Requests a stream may hold waiting for its handler before the server stops reading
   * from it (HTTP/2 flow control then pushes back on the gateway). Integer >= 1; default 64.
   */
  maxPendingRequests?: number;
  /**
   * Credentials for listen(). Default: insecure; the internal gRPC network is trusted
   * (PROTOCOL.md 1).
   */
  credentials?: grpc.ServerCredentials;
  /**
   * OpenTelemetry tracer provider (e.g. `trace.getTracerProvider()` after the application
   * registered its SDK): each request handed to onMessage gets a span, the child of the
   * gateway's request span when the request carries a trace context (docs/backend-sdk.md#tracing).
   * Default: none, no tracing (no OpenTelemetry module is loaded).
   */
  tracerProvider?: TracerProvider;
}

/** Default of {@link TunnelServerOptions.maxPendingRequests}. */
export const DEFAULT_MAX_PENDING_REQUESTS = 64;

type ServerState = 'open' | 'closing' | 'closed';

function invalid(message: string, details: Record<string, unknown> = {}): JanusError {
  return new JanusError(ErrorCode.ConfigInvalid, message, details);
}

/**
 * Serves tunnel services over gRPC. See docs/backend-sdk.md.
 *
 * ```ts
 * const server = new TunnelServer().addService(TUNNEL_PATHS.player, { onMessage: (ctx, req) => req.data });
 * const port = await server.listen('127.0.0.1', 0);
 * ```
 */
export class TunnelServer {
  private readonly server: grpc.Server;
  private readonly credentials: grpc.ServerCredentials;
  private readonly maxPending: number;
  private readonly streams = new Set<TunnelStream>();
  private readonly paths = new Set<string>();
  private state: ServerState = 'open';
  private closing: Promise<void> | null = null;
  private readonly tracerProvider: TracerProvider | null;
  /** Trace context read off each received request (tracing on). */
  private readonly traceOf = new WeakMap<TunnelMessage, TunnelTraceContext>();
  /** Loaded by the first listen() when a tracerProvider is set. */
  private tracing: BackendTracing | null = null;
  private tracingLoad: Promise<void> | null = null;

  /**
   * @throws JanusError JANUS_ERR_CONFIG_INVALID when maxPendingRequests is not an integer >= 1.
   */
  constructor(opts: TunnelServerOptions = {}) {
    const maxPending = opts.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw invalid('maxPendingRequests must be an integer >= 1', { maxPendingRequests: maxPending });
    }
    this.maxPending = maxPending;
    this.credentials = opts.credentials ?? grpc.ServerCredentials.createInsecure();
    this.server = new grpc.Server(opts.grpcOptions);
    this.tracerProvider = opts.tracerProvider ?? null;
  }

  /** Open streams now, over all services (for tests and metrics). */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * Serves `handlers` at a gRPC method path (`TUNNEL_PATHS.player`, `TUNNEL_PATHS.room`, or
   * any `/package.Service/Method`). May be called before or after listen().
   * @throws JanusError JANUS_ERR_CONFIG_INVALID for a malformed or already served path, or
   *   handlers without onMessage; JANUS_ERR_CONNECTION_CLOSED once the server is closing.
   */
  addService(path: string, handlers: TunnelHandlers): this {
    if (this.state !== 'open') throw new JanusError(ErrorCode.ConnectionClosed, 'the tunnel server is closed');
    if (typeof path !== 'string' || !/^\/[^/\s]+\/[^/\s]+$/.test(path)) {
      throw invalid(`tunnel path must look like /package.Service/Method, got ${JSON.stringify(path)}`, { path });
    }
    if (typeof handlers?.onMessage !== 'function') throw invalid('tunnel handlers need an onMessage function', { path });
    if (this.paths.has(path)) throw invalid(`a tunnel service is already served at ${path}`, { path });
    this.paths.add(path);
    this.server.addService(tunnelServiceDefinition(path, this.tracerProvider === null ? deserializeTunnelMessage : this.deserializeTraced), {
      Tunnel: (call: TunnelCall) => this.accept(call, handlers),
    });
    return this;
  }

  /**
   * Binds `host:port` (port 0 picks a free port; an IPv6 host may be given bare) and starts
   * serving. May be called more than once to listen on several addresses.
   * @returns the bound port.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID for a bad port or when binding fails
   *   (address in use, unknown host); JANUS_ERR_CONNECTION_CLOSED once the server is closing.
   */
  listen(host: string, port: number): Promise<number> {
    if (this.state !== 'open') {
      return Promise.reject(new JanusError(ErrorCode.ConnectionClosed, 'the tunnel server is closed'));
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(invalid(`port must be an integer in 0..65535, got ${port}`, { port }));
    }
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    // Streams are accepted only once bound: the tracing module is loaded before any arrives.
    return this.loadTracing().then(
      () =>
        new Promise((resolve, reject) => {
          this.server.bindAsync(address, this.credentials, (err, bound) => {
            if (err) reject(new JanusError(ErrorCode.ConfigInvalid, `cannot listen on ${address}: ${err.message}`, { address }, { cause: err }));
            else resolve(bound);
          });
        }),
    );
  }

  /** Imports tracing.ts (and with it @opentelemetry/api and /core) when a tracerProvider is set. */
  private loadTracing(): Promise<void> {
    const provider = this.tracerProvider;
    if (provider === null) return Promise.resolve();
    this.tracingLoad ??= import('./tracing.js').then((m) => {
      this.tracing = new m.BackendTracing(provider, this.traceOf);
    });
    return this.tracingLoad;
  }

  /** Reads a request and, when it carries one, its trace context (tracing on). */
  private readonly deserializeTraced = (buf: Buffer): TunnelMessage => {
    const m = deserializeTunnelMessage(buf);
    const tc = readTunnelTraceContext(buf);
    if (tc !== null) this.traceOf.set(m, tc);
    return m;
  };

  /**
   * Graceful shutdown: refuses new streams, ends every open stream with status OK (their
   * onClose runs), then waits for grpc-js to finish the connections (tryShutdown). A peer
   * that never closes its connection keeps this pending: bound it with destroy().
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.state === 'closed') return (this.closing = Promise.resolve());
    this.state = 'closing';
    for (const stream of [...this.streams]) stream.end();
    this.closing = new Promise((resolve) => {
      this.server.tryShutdown(() => {
        this.state = 'closed';
        resolve();
      });
    });
    return this.closing;
  }

  /**
   * Cuts: marks every open stream closed (their onClose runs) and force-shuts the server
   * (connections destroyed, no statuses sent). Idempotent; a pending close() then resolves.
   */
  destroy(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const stream of [...this.streams]) stream.abort();
    this.server.forceShutdown();
  }

  /** grpc-js handler of a new call on one of the served paths. */
  private accept(call: TunnelCall, handlers: TunnelHandlers): void {
    if (this.state !== 'open') {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'the tunnel server is shutting down', metadata: null });
      return;
    }
    const md = readTunnelMetadata(call.metadata);
    if (!md.ok) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: md.details, metadata: null });
      return;
    }
    const stream = new TunnelStream(call, md.fields, handlers, this.maxPending, this.release, this.tracing);
    this.streams.add(stream);
    stream.start();
  }

  private readonly release = (stream: TunnelStream): void => {
    this.streams.delete(stream);
  };
}
