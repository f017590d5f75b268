/**
 * The server side of one gRPC bidirectional call on node:http2 (PROTOCOL.md 9; the gRPC
 * "PROTOCOL-HTTP2" document): what a {@link TunnelStream} reads and writes. Requests are
 * the 5-byte-prefixed messages of the request body; replies go out the same way after one
 * HEADERS frame (sent with the first reply, as grpc-js does); the status goes in trailers,
 * or alone in a trailers-only response when nothing was sent.
 *
 * Events (the {@link TunnelCall} contract): 'data' per request, 'end' when the gateway
 * half-closed, 'drain' when a full send buffer emptied, 'cancelled' when the stream closed
 * without our status (RST_STREAM from the gateway, connection lost, server destroyed).
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { TunnelMessage } from '@janus/protocol';
import { answerGrpcStatus, GRPC_RESPONSE_HEADERS, GrpcMessageReader, GrpcStatus, grpcStatusTrailers, grpcTunnelMessage } from '@janus/protocol/node';
import type { TunnelCall } from './stream.js';

/** One accepted tunnel call on an HTTP/2 stream; implements {@link TunnelCall}. Internal to the package. */
export class H2TunnelCall extends EventEmitter implements TunnelCall {
  private readonly reader: GrpcMessageReader;
  private metadataCache: grpc.Metadata | null = null;
  /** Our status went out (or is queued behind the replies): later writes and statuses are dropped. */
  private done = false;

  /**
   * @param stream the request's HTTP/2 stream, already checked by acceptGrpcRequest.
   * @param headers the request headers (the tunnel metadata, PROTOCOL.md 9).
   * @param maxRequestBytes largest request message (bytes, without its prefix); a larger one
   *   ends the call with RESOURCE_EXHAUSTED.
   * @param deserialize reads one request message (throws on a malformed one: the call ends INTERNAL).
   */
  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    maxRequestBytes: number,
    private readonly deserialize: (body: Buffer) => TunnelMessage,
  ) {
    super();
    // onOversized null: a request over the limit is refused at its length prefix.
    this.reader = new GrpcMessageReader(maxRequestBytes, this.onMessage, null);
    stream.on('data', this.onChunk);
    stream.once('end', () => {
      if (this.done) return;
      if (this.reader.partial) this.fail(GrpcStatus.INTERNAL, 'the request stream ended inside a message');
      else this.emit('end');
    });
    stream.on('drain', () => this.emit('drain'));
    // 'error' is followed by 'close'; the outcome is decided there.
    stream.on('error', () => {});
    stream.once('close', () => this.emit('cancelled'));
  }

  /** The request headers as grpc-js Metadata (built on first use). */
  get metadata(): grpc.Metadata {
    this.metadataCache ??= grpc.Metadata.fromHttp2Headers(this.headers);
    return this.metadataCache;
  }

  write(m: TunnelMessage): boolean {
    const s = this.stream;
    if (this.done || s.destroyed) return true;
    if (!s.headersSent) s.respond(GRPC_RESPONSE_HEADERS, { waitForTrailers: true });
    return s.write(grpcTunnelMessage(m));
  }

  end(): void {
    this.sendStatus(GrpcStatus.OK, '');
  }

  fail(code: number, details: string): void {
    this.sendStatus(code, details);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  private readonly onChunk = (chunk: Buffer): void => {
    if (this.done) return;
    const err = this.reader.push(chunk);
    if (err) this.fail(err.code, err.details);
  };

  private readonly onMessage = (body: Buffer): void => {
    if (this.done) return;
    let m: TunnelMessage;
    try {
      m = this.deserialize(body);
    } catch (err) {
      this.fail(GrpcStatus.INTERNAL, `request is not a valid TunnelRequest: ${(err as Error).message}`);
      return;
    }
    this.emit('data', m);
  };

  /**
   * Ends the call with a status: in the trailers after the replies already written, or in a
   * trailers-only response when none was. Requests that still arrive are read and dropped
   * (the gateway ends its side once it has the status). Once only.
   */
  private sendStatus(code: number, details: string): void {
    if (this.done) return;
    this.done = true;
    const s = this.stream;
    if (s.destroyed) return;
    s.resume();
    if (!s.headersSent) return answerGrpcStatus(s, code, details);
    s.once('wantTrailers', () => s.sendTrailers(grpcStatusTrailers(code, details)));
    s.end();
  }
}
