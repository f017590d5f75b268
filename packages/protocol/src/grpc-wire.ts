/**
 * The parts of gRPC over HTTP/2 (the gRPC "PROTOCOL-HTTP2" document) that Janus's own gRPC
 * code on node:http2 needs: the gateway's tunnel client (decision 0009), its unary push
 * server (decision 0022) and the backend SDK's tunnel server (decision 0024). Status codes,
 * the 5-byte length-prefixed message framing, a status from trailers or a stream reset,
 * and the server's checks and trailers-only answers. Node only (Buffer, node:http2).
 */
import { constants as h2, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { encodeTunnelMessage, TUNNEL_FIELDS_HEADROOM_BYTES, type TunnelMessage } from './tunnel.js';

/** gRPC status codes used by the gateway (same numbers as every gRPC implementation). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** Bytes of a gRPC message prefix: compressed flag (1) and u32be length (4). */
export const GRPC_PREFIX_BYTES = 5;

/**
 * A TunnelRequest as one gRPC message (uncompressed prefix, then the message), encoded
 * into one buffer: the prefix is written into the encoder's headroom.
 * @param tail encoded fields appended to the message (the trace context, tracing.ts); default none.
 */
export function grpcTunnelMessage(m: TunnelMessage, tail?: Uint8Array): Buffer {
  const frame = encodeTunnelMessage(m, GRPC_PREFIX_BYTES, tail) as Buffer;
  frame[0] = 0;
  frame.writeUInt32BE(frame.length - GRPC_PREFIX_BYTES, 1);
  return frame;
}

/** Why a {@link GrpcMessageReader} stopped: a compressed message (never negotiated), or a bad oversized one. */
export interface GrpcReadError {
  code: number;
  details: string;
}

/**
 * The error {@link GrpcMessageReader} returns for a message with the compressed flag set
 * (INTERNAL: no compression was negotiated). This one object: a server that answers it
 * otherwise (the push server: UNIMPLEMENTED) compares with it.
 */
export const GRPC_COMPRESSED_ERROR: Readonly<GrpcReadError> = Object.freeze({
  code: GrpcStatus.INTERNAL,
  details: 'compressed gRPC message (no compression was negotiated)',
});

/** Largest size of the fields other than `data` that an oversized TunnelResponse may carry (bytes). */
export const MAX_OVERSIZED_FIELDS_BYTES = TUNNEL_FIELDS_HEADROOM_BYTES;

/**
 * Reads one oversized message as it streams by: the payload of field 1 (`data`) is
 * counted and dropped, every other field is kept, so the message's mod, seq and index are
 * known once it ends, without buffering it (protobuf wire format; fields in any order).
 */
class OversizedMessage {
  /** Bytes of the message still to come. */
  remaining: number;
  private readonly kept: number[] = [];
  /** Bytes of the field being read (its tag and length, before the keep/drop decision). */
  private head: number[] = [];
  private state: 'tag' | 'varint' | 'fixed' | 'length' | 'payload' = 'tag';
  private varint = 0;
  private shift = 0;
  private fieldNo = 0;
  private left = 0;
  private keepPayload = true;

  constructor(readonly size: number) {
    this.remaining = size;
  }

  /** Consumes up to `remaining` bytes of `buf` from `off`; returns the offset after them, or an error. */
  feed(buf: Buffer, off: number): number | GrpcReadError {
    const end = Math.min(buf.length, off + this.remaining);
    let i = off;
    while (i < end) {
      if (this.state === 'payload') {
        const n = Math.min(this.left, end - i);
        if (this.keepPayload && this.kept.length + n > MAX_OVERSIZED_FIELDS_BYTES) return this.tooMuchKept();
        if (this.keepPayload) for (let k = 0; k < n; k++) this.kept.push(buf[i + k]!);
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'tag';
      } else if (this.state === 'fixed') {
        this.kept.push(buf[i++]!);
        if (--this.left === 0) this.state = 'tag';
      } else {
        const b = buf[i++]!;
        if (this.state === 'varint') {
          this.kept.push(b);
          if (++this.left > 10) return malformed('varint longer than 10 bytes');
          if ((b & 0x80) === 0) this.state = 'tag';
          continue;
        }
        this.head.push(b);
        if (this.shift > 28) return malformed('tag or length longer than 5 bytes');
        this.varint += (b & 0x7f) * 2 ** this.shift;
        this.shift += 7;
        if (b & 0x80) continue;
        const v = this.varint;
        this.varint = 0;
        this.shift = 0;
        if (this.state === 'tag') {
          this.fieldNo = Math.floor(v / 8);
          const wt = v % 8;
          if (this.fieldNo === 0) return malformed('field number 0');
          if (wt === 0) {
            this.commitHead(true);
            this.state = 'varint';
            this.left = 0;
          } else if (wt === 1 || wt === 5) {
            this.commitHead(true);
            this.state = 'fixed';
            this.left = wt === 1 ? 8 : 4;
          } else if (wt === 2) {
            this.state = 'length';
          } else {
            return malformed(`wire type ${wt}`);
          }
        } else {
          // The length of a length-delimited field: `data` is dropped with its tag and length.
          this.keepPayload = this.fieldNo !== 1;
          this.commitHead(this.keepPayload);
          this.left = v;
          this.state = v === 0 ? 'tag' : 'payload';
        }
      }
      if (this.kept.length > MAX_OVERSIZED_FIELDS_BYTES) return this.tooMuchKept();
    }
    this.remaining -= i - off;
    if (this.remaining === 0 && (this.state !== 'tag' || this.head.length !== 0)) return malformed('message ends inside a field');
    return i;
  }

  /** The message without its `data` field (call once `remaining` is 0). */
  fields(): Buffer {
    return Buffer.from(this.kept);
  }

  private tooMuchKept(): GrpcReadError {
    return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `received message larger than max (${this.size} bytes) with over ${MAX_OVERSIZED_FIELDS_BYTES} bytes outside its data` };
  }

  private commitHead(keep: boolean): void {
    if (keep) for (const b of this.head) this.kept.push(b);
    this.head = [];
  }
}

function malformed(why: string): GrpcReadError {
  return { code: GrpcStatus.INTERNAL, details: `bad oversized message: ${why}` };
}

/**
 * Splits a response body into gRPC messages. Messages inside one chunk are handed out as
 * views (no copy); a message split across chunks is joined once, from its own bytes only
 * (the rest of the chunk that ends it is read in place). A message over the limit
 * is never buffered: it is read by as it streams (its `data` dropped) and reported to
 * `onOversized` with its other fields, so the stream goes on (PROTOCOL.md 2: a reply too
 * large for the client is answered with ServerUnexpectedErr, the connection stays).
 */
export class GrpcMessageReader {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Bytes the message being joined needs in all (its prefix included); 0 while its prefix is incomplete. */
  private needed = 0;
  private oversized: OversizedMessage | null = null;

  /**
   * @param maxMessageBytes largest message delivered to onMessage (bytes).
   * @param onMessage called with each complete message body.
   * @param onOversized called once a message over maxMessageBytes has gone by: `fields` is
   *   the message without its `data` field (a valid protobuf encoding), `bytes` its size.
   *   null: a message over the limit is an error (RESOURCE_EXHAUSTED) at its length prefix,
   *   before its bytes arrive (a server reading requests).
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly onMessage: (body: Buffer) => void,
    private readonly onOversized: ((fields: Buffer, bytes: number) => void) | null,
  ) {}

  /** True when the bytes read so far end inside a message (a body must not end here). */
  get partial(): boolean {
    return this.partsBytes !== 0 || this.oversized !== null;
  }

  /**
   * Feeds one DATA chunk; returns an error (and reads nothing more) on a compressed
   * message, an oversized one that is not valid protobuf or carries over
   * {@link MAX_OVERSIZED_FIELDS_BYTES} outside its data, or (onOversized null) any
   * oversized one. A message split across chunks is joined once, when its last byte came.
   */
  push(chunk: Buffer): Readonly<GrpcReadError> | null {
    let off = 0;
    if (this.partsBytes !== 0) {
      // A message began in an earlier chunk: take from this one only the bytes it still
      // needs (its prefix, then its body), so the rest of the chunk is read in place.
      if (this.needed === 0) {
        off = this.takePart(chunk, 0, GRPC_PREFIX_BYTES);
        if (this.partsBytes < GRPC_PREFIX_BYTES) return null;
        const prefix = Buffer.concat(this.parts, GRPC_PREFIX_BYTES);
        const len = prefix.readUInt32BE(1);
        const err = this.begin(prefix[0]!, len);
        if (err || this.oversized) this.dropParts();
        if (err) return err;
        // An oversized message is read by from here on (the loop below).
        if (!this.oversized) this.needed = GRPC_PREFIX_BYTES + len;
      }
      if (this.needed !== 0) {
        off = this.takePart(chunk, off, this.needed);
        if (this.partsBytes < this.needed) return null;
        const message = Buffer.concat(this.parts, this.partsBytes);
        this.dropParts();
        this.onMessage(message.subarray(GRPC_PREFIX_BYTES));
      }
    }
    for (;;) {
      if (this.oversized) {
        const m = this.oversized;
        const next = m.feed(chunk, off);
        if (typeof next !== 'number') return next;
        off = next;
        if (m.remaining !== 0) return null;
        this.oversized = null;
        this.onOversized?.(m.fields(), m.size);
        continue;
      }
      if (chunk.length - off < GRPC_PREFIX_BYTES) break;
      const len = chunk.readUInt32BE(off + 1);
      const err = this.begin(chunk[off]!, len);
      if (err) return err;
      if (this.oversized) {
        off += GRPC_PREFIX_BYTES;
        continue;
      }
      if (chunk.length - off - GRPC_PREFIX_BYTES < len) {
        this.needed = GRPC_PREFIX_BYTES + len;
        break;
      }
      const start = off + GRPC_PREFIX_BYTES;
      off = start + len;
      this.onMessage(chunk.subarray(start, off));
    }
    if (off < chunk.length) {
      this.parts.push(chunk.subarray(off));
      this.partsBytes = chunk.length - off;
    }
    return null;
  }

  /**
   * Checks a message's prefix: an error for a compressed one, or (onOversized null) for one
   * over the limit; otherwise starts reading an oversized one by ({@link OversizedMessage}).
   */
  private begin(flag: number, len: number): Readonly<GrpcReadError> | null {
    if (flag !== 0) return GRPC_COMPRESSED_ERROR;
    if (len <= this.maxMessageBytes) return null;
    if (this.onOversized === null) {
      return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `message of ${len} bytes is over the limit of ${this.maxMessageBytes} bytes` };
    }
    this.oversized = new OversizedMessage(len);
    return null;
  }

  /** Adds `chunk` from `off` to the joined message, up to `upTo` bytes in all; returns the offset after what it took. */
  private takePart(chunk: Buffer, off: number, upTo: number): number {
    const end = Math.min(chunk.length, off + upTo - this.partsBytes);
    if (end > off) {
      this.parts.push(chunk.subarray(off, end));
      this.partsBytes += end - off;
    }
    return end;
  }

  private dropParts(): void {
    this.parts = [];
    this.partsBytes = 0;
    this.needed = 0;
  }
}

/** The status in trailers (or trailers-only response headers); null when they carry none. */
export function statusFromHeaders(headers: Record<string, string | string[] | undefined>): { code: number; details: string } | null {
  const raw = headers['grpc-status'];
  if (raw === undefined) return null;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  const msg = headers['grpc-message'];
  let details = (Array.isArray(msg) ? msg[0] : msg) ?? '';
  try {
    details = decodeURIComponent(details);
  } catch {
    // Not percent-encoded as the spec asks: keep it as sent.
  }
  return { code: Number.isInteger(code) ? code : GrpcStatus.UNKNOWN, details };
}

/** The status of a stream that closed without trailers, from its RST_STREAM code (gRPC's mapping). */
export function statusFromReset(rstCode: number): { code: number; details: string } {
  switch (rstCode) {
    case h2.NGHTTP2_NO_ERROR:
      return { code: GrpcStatus.INTERNAL, details: 'stream closed without a gRPC status' };
    case h2.NGHTTP2_REFUSED_STREAM:
      return { code: GrpcStatus.UNAVAILABLE, details: 'stream refused by the backend' };
    case h2.NGHTTP2_CANCEL:
      return { code: GrpcStatus.CANCELLED, details: 'stream cancelled' };
    case h2.NGHTTP2_ENHANCE_YOUR_CALM:
      return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'backend asked to enhance your calm' };
    case h2.NGHTTP2_INADEQUATE_SECURITY:
      return { code: 7, details: 'inadequate security' };
    default:
      return { code: GrpcStatus.INTERNAL, details: `stream reset with HTTP/2 code ${rstCode}` };
  }
}

/**
 * A status message as `grpc-message` carries it: its UTF-8 bytes, each byte outside
 * printable ASCII (0x20-0x7E) and `%` itself as `%XX` (the gRPC HTTP/2 spec's
 * percent-encoding; `/`, `:` and the like stay as they are, which grpc-js and grpc-go both
 * expect). A lone UTF-16 surrogate is sent as U+FFFD.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7E]*$/.test(message)) return message;
  let out = '';
  for (const b of Buffer.from(message.replace(LONE_SURROGATE, '\uFFFD'), 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The HEADERS of a gRPC response (HTTP 200, `application/grpc`), before its messages. */
export const GRPC_RESPONSE_HEADERS: Readonly<OutgoingHttpHeaders> = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });

/**
 * A status as trailers carry it: `grpc-status`, and the message in `grpc-message`
 * ({@link encodeGrpcMessage}) when there is one (an empty message is left out).
 */
export function grpcStatusTrailers(code: number, message: string): OutgoingHttpHeaders {
  const trailers: OutgoingHttpHeaders = { 'grpc-status': String(code) };
  if (message !== '') trailers['grpc-message'] = encodeGrpcMessage(message);
  return trailers;
}

/**
 * Answers a gRPC status as a trailers-only response ({@link GRPC_RESPONSE_HEADERS} with
 * {@link grpcStatusTrailers}). No-op once the stream is destroyed or has answered.
 */
export function answerGrpcStatus(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ...GRPC_RESPONSE_HEADERS, ...grpcStatusTrailers(code, message) }, { endStream: true });
}

/**
 * A server's first checks of a request: a POST (else HTTP 405), of content-type
 * `application/grpc` or `application/grpc+...` (else HTTP 415), uncompressed
 * (`grpc-encoding` absent or identity, else UNIMPLEMENTED: no compression is offered).
 * Answers a refused request itself.
 * @returns true when the request may be served.
 */
export function acceptGrpcRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'] ?? '';
  const http =
    headers[':method'] !== 'POST' ? 405 : type !== 'application/grpc' && !type.startsWith('application/grpc+') && !type.startsWith('application/grpc;') ? 415 : 0;
  if (http !== 0) {
    if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': http }, { endStream: true });
    return false;
  }
  const enc = headers['grpc-encoding'];
  if (enc !== undefined && enc !== 'identity') {
    answerGrpcStatus(stream, GrpcStatus.UNIMPLEMENTED, `grpc-encoding ${String(enc)} is not supported (identity only)`);
    return false;
  }
  return true;
}
