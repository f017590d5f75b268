/**
 * The gRPC PushService (`gate.service.push.v1.PushService`, PROTOCOL.md 11) on the
 * gateway's internal gRPC listener (`listen.grpc`, default 127.0.0.1:19100): a unary gRPC
 * server on node:http2 (cleartext HTTP/2, as the tunnels), framing with @janus/protocol's grpc-wire.ts
 * (docs/decisions/0022-push-grpc-server-on-node-http2.md). Each call acts on this
 * gateway's sessions only (api.ts).
 *
 * Answers: OK with the response message; INVALID_ARGUMENT for a request that does not
 * decode or that api.ts refuses; UNIMPLEMENTED for an unknown method or a compressed
 * message (no compression is offered); RESOURCE_EXHAUSTED for a request message over
 * `maxMessageBytes`; INTERNAL for a request with no message or several; UNAVAILABLE once
 * the server is closing. A request that is not a gRPC POST gets HTTP 405 / 415.
 */
import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { JanusError, ErrorCode, PushService as PushServiceDesc } from '@janus/protocol';
import type { Logger } from 'pino';
import { acceptGrpcRequest, answerGrpcStatus, GRPC_COMPRESSED_ERROR, GRPC_PREFIX_BYTES, GRPC_RESPONSE_HEADERS, GrpcMessageReader, GrpcStatus, grpcStatusTrailers } from '@janus/protocol/node';
import { listenPort } from '../listen.js';
import { PUSH_METHODS, type PushMethod, type PushOps } from './api.js';

/** The service's full name; method paths are `/gate.service.push.v1.PushService/{Method}`. */
export const PUSH_SERVICE_NAME = PushServiceDesc.typeName;

/** Default largest request message (bytes): grpc-js's and grpc-go's default receive limit. */
export const DEFAULT_PUSH_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Options of {@link startPushGrpcServer}. */
export interface PushGrpcServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest request message (bytes, without its 5-byte prefix). Default {@link DEFAULT_PUSH_MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
  log: Logger;
}

/** A running push gRPC server. */
export interface PushGrpcServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every HTTP/2 session (calls under way are cut). Idempotent. */
  close(): Promise<void>;
}

/** One unary call: read exactly one message, run it, answer message + OK trailers. */
function serveCall(stream: ServerHttp2Stream, m: PushMethod, ops: PushOps, maxBytes: number, log: Logger): void {
  const messages: Buffer[] = [];
  let failed = false;
  const fail = (code: number, message: string, unread = false): void => {
    if (failed) return;
    failed = true;
    answerGrpcStatus(stream, code, message);
    // The rest of the request is not read: reset its side after the status (RST_STREAM NO_ERROR).
    if (unread) stream.close();
  };
  const reader = new GrpcMessageReader(
    maxBytes,
    (body) => messages.push(Buffer.from(body)),
    (_fields, bytes) => fail(GrpcStatus.RESOURCE_EXHAUSTED, `request message of ${bytes} bytes is over the limit of ${maxBytes} bytes`, true),
  );
  let received = 0;
  stream.on('data', (chunk: Buffer) => {
    if (failed) return;
    received += chunk.length;
    if (received > maxBytes + GRPC_PREFIX_BYTES) return fail(GrpcStatus.RESOURCE_EXHAUSTED, `request over the limit of ${maxBytes} bytes`, true);
    const err = reader.push(chunk);
    if (err) fail(err === GRPC_COMPRESSED_ERROR ? GrpcStatus.UNIMPLEMENTED : err.code, err.details, true);
  });
  stream.on('end', () => {
    if (failed) return;
    if (messages.length !== 1) return fail(GrpcStatus.INTERNAL, `a unary call takes exactly one request message, got ${messages.length}`);
    let req;
    try {
      req = fromBinary(m.input, messages[0]!);
    } catch (err) {
      return fail(GrpcStatus.INVALID_ARGUMENT, `request is not a valid ${m.input.typeName}: ${(err as Error).message}`);
    }
    const callFailed = (err: unknown): void => {
      if (err instanceof JanusError && err.code === ErrorCode.ArgInvalid) return fail(GrpcStatus.INVALID_ARGUMENT, err.message);
      log.error({ err, method: m.name }, 'push call failed');
      fail(GrpcStatus.INTERNAL, 'push call failed');
    };
    const answer = (res: Parameters<typeof toBinary>[1]): void => {
      if (stream.destroyed) return;
      let reply: Uint8Array;
      try {
        reply = toBinary(m.output, res);
      } catch (err) {
        return callFailed(err);
      }
      const frame = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + reply.length);
      frame[0] = 0;
      frame.writeUInt32BE(reply.length, 1);
      frame.set(reply, GRPC_PREFIX_BYTES);
      stream.respond(GRPC_RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(grpcStatusTrailers(GrpcStatus.OK, '')));
      stream.end(frame);
    };
    let res;
    try {
      res = m.call(ops, req);
    } catch (err) {
      return callFailed(err);
    }
    // The gateway's gRPC front calls its local PushService, whose answers are synchronous.
    if (res instanceof Promise) res.then(answer, callFailed);
    else answer(res);
  });
}

/**
 * Starts the PushService on `o.host:o.port` over cleartext HTTP/2.
 * @throws the listen error (EADDRINUSE, EACCES ...); the caller names the config key.
 */
export async function startPushGrpcServer(ops: PushOps, o: PushGrpcServerOptions): Promise<PushGrpcServer> {
  const maxBytes = o.maxMessageBytes ?? DEFAULT_PUSH_MAX_MESSAGE_BYTES;
  const sessions = new Set<Http2Session>();
  let closing = false;
  const server: Http2Server = createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
    // A peer's broken session ends only itself.
    s.on('error', () => {});
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => {});
    if (!acceptGrpcRequest(stream, headers)) return;
    if (closing) return answerGrpcStatus(stream, GrpcStatus.UNAVAILABLE, 'the gateway is shutting down');
    const path = headers[':path'] ?? '';
    const slash = path.lastIndexOf('/');
    const m = path.slice(0, slash) === `/${PUSH_SERVICE_NAME}` ? PUSH_METHODS.get(path.slice(slash + 1)) : undefined;
    if (!m) return answerGrpcStatus(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
    serveCall(stream, m, ops, maxBytes, o.log);
  });
  const port = await listenPort(server, o.host, o.port);
  server.on('error', (err) => o.log.error({ err }, 'push gRPC server error'));
  let closed: Promise<void> | null = null;
  return {
    host: o.host,
    port,
    close() {
      closing = true;
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      });
      return closed;
    },
  };
}
