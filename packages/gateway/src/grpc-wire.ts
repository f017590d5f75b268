/**
 * The parts of gRPC over HTTP/2 that a tunnel client needs (the gRPC "PROTOCOL-HTTP2"
 * document): status codes, the 5-byte length-prefixed message framing, request headers,
 * and reading a status from trailers or a stream reset.
 */
import { constants as h2 } from 'node:http2';
import { encodeTunnelMessage, type TunnelMessage } from '@janus/protocol';

/** gRPC status codes used by the gateway (same numbers as every gRPC implementation). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
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

/** Why a {@link GrpcMessageReader} stopped: a message over the limit, or a compressed one (never negotiated). */
export interface GrpcReadError {
  code: number;
  details: string;
}

/**
 * Splits a response body into gRPC messages. Messages inside one chunk are handed out as
 * views (no copy); a message split across chunks is joined once.
 */
export class GrpcMessageReader {
  private parts: Buffer[] = [];
  private partsBytes = 0;

  /**
   * @param maxMessageBytes largest message accepted (bytes).
   * @param onMessage called with each complete message body.
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly onMessage: (body: Buffer) => void,
  ) {}

  /** Feeds one DATA chunk; returns an error (and reads nothing more) on a bad message. */
  push(chunk: Buffer): GrpcReadError | null {
    let buf = chunk;
    if (this.partsBytes !== 0) {
      this.parts.push(chunk);
      buf = Buffer.concat(this.parts, this.partsBytes + chunk.length);
      this.parts = [];
      this.partsBytes = 0;
    }
    let off = 0;
    while (buf.length - off >= GRPC_PREFIX_BYTES) {
      const flag = buf[off]!;
      const len = buf.readUInt32BE(off + 1);
      if (flag !== 0) return { code: GrpcStatus.INTERNAL, details: 'compressed gRPC message (no compression was negotiated)' };
      if (len > this.maxMessageBytes) {
        return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `received message larger than max (${len} vs. ${this.maxMessageBytes})` };
      }
      if (buf.length - off - GRPC_PREFIX_BYTES < len) break;
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
