/**
 * The framing of the plain proxy baseline (bench:compare system "proxy"): every frame is a
 * 4-byte big-endian body length followed by the body. Client <-> proxy frames carry the
 * body as is; proxy <-> echo server frames carry a 4-byte big-endian session id first
 * (the proxy multiplexes every client over one backend connection, as a gateway does).
 *
 * Bodies (written by the load generator and the echo server, opaque to the proxy):
 *   kind u8, id u32 BE, data
 * kinds: {@link ProxyKind}.
 */

/** Message kinds of the proxy baseline's bodies. */
export const ProxyKind = {
  /** proxy -> echo only: the client of this session id closed (no id, no data). */
  Closed: 0,
  /** Echo request; the echo server returns the body unchanged. */
  Echo: 1,
  /** Join room: data = room u32 BE; answered with Ack. */
  Join: 2,
  /** Say: data = room u32 BE, then UTF-8 text; answered with Ack, then a Push to every member. */
  Say: 3,
  /** Push (echo server -> client): id 0, data = the UTF-8 text of a Say. */
  Push: 4,
  /** Reply to Join or Say: the request's id, no data. */
  Ack: 5,
} as const;

/** Bytes of the length prefix. */
export const LENGTH_BYTES = 4;
/** Bytes of kind + id at the start of a body. */
export const BODY_HEAD_BYTES = 5;
/** Largest body accepted (bytes); a longer length prefix is a protocol error. */
export const MAX_BODY_BYTES = 1 << 20;

/** One frame: the 4-byte big-endian length of `body`, then `body` (one new buffer). */
export function encodeFrame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, LENGTH_BYTES);
  return out;
}

/** A body: kind, id (u32 BE), data. */
export function encodeBody(kind: number, id: number, data: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(BODY_HEAD_BYTES + data.length);
  out[0] = kind;
  out.writeUInt32BE(id >>> 0, 1);
  out.set(data, BODY_HEAD_BYTES);
  return out;
}

/** A whole client frame: length prefix and body (kind, id, data), in one buffer. */
export function encodeBodyFrame(kind: number, id: number, data: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + BODY_HEAD_BYTES + data.length);
  out.writeUInt32BE(BODY_HEAD_BYTES + data.length, 0);
  out[LENGTH_BYTES] = kind;
  out.writeUInt32BE(id >>> 0, LENGTH_BYTES + 1);
  out.set(data, LENGTH_BYTES + BODY_HEAD_BYTES);
  return out;
}

/** A proxy <-> echo frame: length (of session id + body), session id u32 BE, body. */
export function encodeLinkFrame(sid: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + 4 + body.length);
  out.writeUInt32BE(4 + body.length, 0);
  out.writeUInt32BE(sid >>> 0, LENGTH_BYTES);
  out.set(body, LENGTH_BYTES + 4);
  return out;
}

const EMPTY = new Uint8Array(0);

/** Thrown by {@link FrameReader} for a length prefix above its limit. */
export class FrameTooLargeError extends Error {}

/**
 * Splits a byte stream into frame bodies. Bodies that lie wholly inside one chunk are
 * views of it (valid until the caller lets go of the chunk); a body split across chunks is
 * joined into a new buffer.
 */
export class FrameReader {
  private pending: Buffer | null = null;

  /** @param maxBody largest body accepted (bytes). */
  constructor(private readonly maxBody = MAX_BODY_BYTES) {}

  /**
   * Feeds one chunk; calls `onFrame` with each complete body, in order.
   * @throws FrameTooLargeError when a length prefix exceeds the limit (the stream is then unusable).
   */
  push(chunk: Buffer, onFrame: (body: Buffer) => void): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    while (buf.length - off >= LENGTH_BYTES) {
      const len = buf.readUInt32BE(off);
      if (len > this.maxBody) throw new FrameTooLargeError(`frame body of ${len} bytes exceeds ${this.maxBody}`);
      if (buf.length - off - LENGTH_BYTES < len) break;
      onFrame(buf.subarray(off + LENGTH_BYTES, off + LENGTH_BYTES + len));
      off += LENGTH_BYTES + len;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }

  /** Bytes held of an incomplete frame. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}
