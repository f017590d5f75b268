/**
 * TunnelServer: a gRPC server on node:http2 that serves tunnel services (PROTOCOL.md 9) with
 * {@link TunnelHandlers}. One server can serve several method paths (player, room, ...).
 * Cleartext HTTP/2 (h2c), as the gateway dials it; the framing is @janus/protocol's
 * grpc-wire.ts (decision 0024: grpc-js's server cost about 1.5x the CPU per message).
 *
 * Answers besides the handlers' replies: UNIMPLEMENTED for an unserved path or a compressed
 * request; INVALID_ARGUMENT for missing or malformed tunnel metadata; RESOURCE_EXHAUSTED for
 * a request message over maxRequestBytes; INTERNAL for an undecodable one; UNAVAILABLE once
 * closing; HTTP 405 / 415 for a request that is not a gRPC POST.
 *
 * Lifecycle: open (addService/listen) -> closing (close(): every open stream ends with OK,
 * new streams are refused with UNAVAILABLE, each HTTP/2 connection gets GOAWAY and the
 * server waits for the gateways to close them) -> closed. destroy() cuts at any point: the
 * connections are destroyed, no statuses sent. Both verbs are idempotent.
 */
import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { TracerProvider } from '@opentelemetry/api';
import { ErrorCode, JanusError, readTunnelTraceContext, type TunnelMessage, type TunnelTraceContext } from '@janus/protocol';
import { acceptGrpcRequest, answerGrpcStatus, GrpcStatus } from '@janus/protocol/node';
import { deserializeTunnelMessage } from './definition.js';
import { H2TunnelCall } from './h2-call.js';
import { readTunnelMetadata } from './metadata.js';
import { TunnelStream, type TunnelHandlers } from './stream.js';
import type { BackendTracing } from './tracing.js';

/** Options of a {@link TunnelServer}. */
export interface TunnelServerOptions {
  /**
   * Largest request message a stream accepts (bytes, without the 5-byte gRPC prefix); a
   * larger one ends its stream with RESOURCE_EXHAUSTED. Integer >= 1; default 4 MiB
   * ({@link DEFAULT_MAX_REQUEST_BYTES}, gRPC's usual receive limit).
   */
  maxRequestBytes?: number;
  /**
   * Requests a stream may hold waiting for its handler before the server stops reading
   * from it (HTTP/2 flow control then pushes back on the gateway). Integer >= 1; default 64.
   */
  maxPendingRequests?: number;
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

/** Default of {@link TunnelServerOptions.maxRequestBytes}: 4 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

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
  /** One HTTP/2 server per listen() address. */
  private readonly servers: Http2Server[] = [];
  /** listen() calls still binding. */
  private readonly binding = new Set<Promise<number>>();
  private readonly sessions = new Set<Http2Session>();
  private readonly maxPending: number;
  private readonly maxRequestBytes: number;
  private readonly streams = new Set<TunnelStream>();
  /** Served method paths and their handlers. */
  private readonly paths = new Map<string, TunnelHandlers>();
  private state: ServerState = 'open';
  private closing: Promise<void> | null = null;
  private readonly tracerProvider: TracerProvider | null;
  /** Trace context read off each received request (tracing on). */
  private readonly traceOf = new WeakMap<TunnelMessage, TunnelTraceContext>();
  /** Loaded by the first listen() when a tracerProvider is set. */
  private tracing: BackendTracing | null = null;
  private tracingLoad: Promise<void> | null = null;

  /**
   * @throws JanusError JANUS_ERR_CONFIG_INVALID when maxPendingRequests or maxRequestBytes
   *   is not an integer >= 1.
   */
  constructor(opts: TunnelServerOptions = {}) {
    const maxPending = opts.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw invalid('maxPendingRequests must be an integer >= 1', { maxPendingRequests: maxPending });
    }
    const maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 1) {
      throw invalid('maxRequestBytes must be an integer >= 1', { maxRequestBytes });
    }
    this.maxPending = maxPending;
    this.maxRequestBytes = maxRequestBytes;
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
    this.paths.set(path, handlers);
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
    const listening = this.loadTracing().then(
      () =>
        new Promise<number>((resolve, reject) => {
          if (this.state !== 'open') return reject(new JanusError(ErrorCode.ConnectionClosed, 'the tunnel server is closed'));
          const server = createServer();
          server.on('session', this.onSession);
          server.on('stream', this.onStream);
          server.once('error', (err: Error) =>
            reject(new JanusError(ErrorCode.ConfigInvalid, `cannot listen on ${address}: ${err.message}`, { address }, { cause: err })),
          );
          server.listen(port, host.startsWith('[') ? host.slice(1, -1) : host, () => {
            // close() or destroy() ran while binding: this address is not served.
            if (this.state !== 'open') {
              server.close(() => reject(new JanusError(ErrorCode.ConnectionClosed, 'the tunnel server closed while listening')));
              return;
            }
            this.servers.push(server);
            // After the bind, an accept failure (EMFILE under fd exhaustion) is emitted here:
            // the server keeps listening, and it must not end the process.
            server.on('error', () => {});
            const a = server.address();
            resolve(typeof a === 'object' && a !== null ? a.port : port);
          });
        }),
    );
    this.binding.add(listening);
    const done = (): void => void this.binding.delete(listening);
    listening.then(done, done);
    return listening;
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
   * onClose runs), sends each connection GOAWAY, then waits for the gateways to close them.
   * A peer that never closes its connection keeps this pending: bound it with destroy().
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.state === 'closed') return (this.closing = Promise.resolve());
    this.state = 'closing';
    for (const stream of [...this.streams]) stream.end();
    // A listen() still binding closes its server itself once bound (it sees the state).
    this.closing = Promise.allSettled([...this.binding])
      .then(() => Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))))
      .then(() => {
        this.state = 'closed';
      });
    for (const session of this.sessions) session.close();
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
    for (const s of this.servers) s.close();
    for (const session of this.sessions) session.destroy();
  }

  private readonly onSession = (session: Http2Session): void => {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    // A gateway's broken connection ends only itself (its streams close as cancelled).
    session.on('error', () => {});
    if (this.state === 'closing') session.close();
  };

  /** A new HTTP/2 stream: one gRPC call on one of the served paths, or refused. */
  private readonly onStream = (h2stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    h2stream.on('error', () => {});
    if (!acceptGrpcRequest(h2stream, headers)) return;
    if (this.state !== 'open') return answerGrpcStatus(h2stream, GrpcStatus.UNAVAILABLE, 'the tunnel server is shutting down');
    const path = headers[':path'] ?? '';
    const handlers = this.paths.get(path);
    if (handlers === undefined) {
      const served = [...this.paths.keys()].join(', ') || 'none';
      return answerGrpcStatus(h2stream, GrpcStatus.UNIMPLEMENTED, `the server does not implement the method ${path} (served: ${served})`);
    }
    const md = readTunnelMetadata(headers);
    if (!md.ok) return answerGrpcStatus(h2stream, GrpcStatus.INVALID_ARGUMENT, md.details);
    const call = new H2TunnelCall(h2stream, headers, this.maxRequestBytes, this.tracerProvider === null ? deserializeTunnelMessage : this.deserializeTraced);
    const stream = new TunnelStream(call, md.fields, handlers, this.maxPending, this.release, this.tracing);
    this.streams.add(stream);
    stream.start();
  };

  private readonly release = (stream: TunnelStream): void => {
    this.streams.delete(stream);
  };
}
