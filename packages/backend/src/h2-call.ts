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
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { encodeTunnelMessage, type TunnelMessage } from '@janus/protocol';
import { encodeGrpcMessage, GRPC_PREFIX_BYTES, GrpcStatus, type GrpcReadError } from '@janus/protocol/node';
import type { TunnelCall } from './stream.js';

/** The HEADERS frame of a gRPC response. */
const RESPONSE_HEADERS: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };

/**
 * Splits a request body into gRPC messages. Unlike the gateway's reader of replies (which
 * reads an oversized reply by to answer its client), a request over the limit is refused
 * at its length prefix, before its bytes arrive, and a message flagged compressed (no
 * compression is offered) is an error at once. Messages inside one chunk are handed out as
 * views; one split across chunks is joined once.
 */
class RequestReader {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Bytes the message being joined needs in all (prefix included); 0 while its prefix is incomplete. */
  private needed = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (body: Buffer) => void,
  ) {}

  /** True when the bytes read so far end inside a message (the body must not end here). */
  get partial(): boolean {
    return this.partsBytes !== 0;
  }

  /** Feeds one DATA chunk; returns why the call must end, or null. */
  push(chunk: Buffer): GrpcReadError | null {
    let buf = chunk;
    if (this.partsBytes !== 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      // Still short of a prefix, or of the message its prefix announced: wait for more.
      if (this.partsBytes < GRPC_PREFIX_BYTES || this.partsBytes < this.needed) return null;
      buf = this.take();
    }
    let off = 0;
    while (buf.length - off >= GRPC_PREFIX_BYTES) {
      if (buf[off] !== 0) return { code: GrpcStatus.INTERNAL, details: 'compressed gRPC message (no compression was negotiated)' };
      const len = buf.readUInt32BE(off + 1);
      if (len > this.maxBytes) {
        return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `request message of ${len} bytes is over the limit of ${this.maxBytes} bytes` };
      }
      if (buf.length - off - GRPC_PREFIX_BYTES < len) {
        this.needed = GRPC_PREFIX_BYTES + len;
        break;
      }
      const start = off + GRPC_PREFIX_BYTES;
      off = start + len;
      this.onMessage(buf.subarray(start, off));
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      this.parts.push(rest);
      this.partsBytes = rest.length;
    }
    return null;
  }

  /** The joined parts; the reader is empty afterwards. */
  private take(): Buffer {
    const buf = Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    this.needed = 0;
    return buf;
  }
}

/** One accepted tunnel call on an HTTP/2 stream; implements {@link TunnelCall}. Internal to the package. */
export class H2TunnelCall extends EventEmitter implements TunnelCall {
  private readonly reader: RequestReader;
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
    this.reader = new RequestReader(maxRequestBytes, this.onMessage);
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
    if (!s.headersSent) s.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    const frame = encodeTunnelMessage(m, GRPC_PREFIX_BYTES) as Buffer;
    frame[0] = 0;
    frame.writeUInt32BE(frame.length - GRPC_PREFIX_BYTES, 1);
    return s.write(frame);
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
    const trailers: OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (details !== '') trailers['grpc-message'] = encodeGrpcMessage(details);
    s.resume();
    if (!s.headersSent) {
      s.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true });
      return;
    }
    s.once('wantTrailers', () => s.sendTrailers(trailers));
    s.end();
  }
}
