/**
 * TCP framing, PROTOCOL.md section 2: each frame is `u32be body length L` then `L` bytes,
 * with `1 <= L <= maxFrameBytes`.
 *
 * Design: a resumable two-state machine (READ_LENGTH, READ_BODY) with no socket inside.
 * Chunks are kept as a list of views; a body that lies inside one chunk is handed out as a
 * view into it (zero copy), a body split across reads is joined once when complete. The
 * length prefix is checked against the limit as soon as its fourth byte arrives, before any
 * body byte is buffered, so a hostile length costs nothing.
 */
import { ErrorCode, JanusError } from './errors.js';
import { allocBytes } from './wire.js';

/** Default and ceiling of maxFrameBytes (bytes). PROTOCOL.md 2. */
export const DEFAULT_MAX_FRAME_BYTES = 65536;
export const MAX_FRAME_BYTES_CEILING = 16 * 1024 * 1024;
/** Bytes of the TCP length prefix. */
export const FRAME_HEADER_BYTES = 4;
/**
 * The smallest maxFrameBytes a gateway or SDK accepts as a setting (bytes): an encrypted
 * CSHandshake body alone is 116 bytes, so a smaller limit would refuse every client.
 */
export const MIN_FRAME_BYTES_SETTING = 256;
/** The WebSocket subprotocol a client offers and the gateway selects (PROTOCOL.md 2). */
export const WS_SUBPROTOCOL = 'janus.v1';

const READ_LENGTH = 0;
const READ_BODY = 1;

/**
 * Checks a body length against the limit.
 * @throws JanusError JANUS_ERR_FRAME_EMPTY (0) or JANUS_ERR_FRAME_TOO_LARGE (over the limit).
 */
export function checkBodyLength(length: number, maxFrameBytes: number): void {
  if (length === 0) throw new JanusError(ErrorCode.FrameEmpty, 'frame body length is 0');
  if (length > maxFrameBytes) {
    throw new JanusError(ErrorCode.FrameTooLarge, `frame body length ${length} is over maxFrameBytes ${maxFrameBytes}`, {
      length,
      maxFrameBytes,
    });
  }
}

/**
 * Streaming decoder of length-prefixed frames.
 *
 * Feed it reads with {@link FrameDecoder.push}; it calls `onFrame(body)` once per complete
 * frame, in order. A body may be a view into a pushed chunk: the callee must not keep it
 * past the chunk's life if the chunk's buffer is reused (Node socket buffers are not).
 * After a throw the decoder is dead: the connection must be closed.
 */
export class FrameDecoder {
  private state = READ_LENGTH;
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private bodyLength = 0;
  private bodyParts: Uint8Array[] = [];
  private bodyFill = 0;
  private stopped = false;

  /**
   * @param maxFrameBytes largest accepted body (bytes), 1..16 MiB.
   * @param onFrame called with each complete body.
   */
  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (body: Uint8Array) => void,
  ) {}

  /** Bytes held for an incomplete frame (length prefix and body parts), for diagnostics. */
  get bufferedBytes(): number {
    return this.headerFill + this.bodyFill;
  }

  /** Stops delivering frames, e.g. once the connection closes inside `onFrame`. */
  stop(): void {
    this.stopped = true;
    this.bodyParts = [];
    // Nothing is held any more: bufferedBytes must say so (connections count it).
    this.bodyFill = 0;
    this.headerFill = 0;
  }

  /**
   * Consumes one read.
   * @throws JanusError JANUS_ERR_FRAME_EMPTY or JANUS_ERR_FRAME_TOO_LARGE as soon as a bad
   *   length prefix is complete; nothing after it is read.
   */
  push(chunk: Uint8Array): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end && !this.stopped) {
      if (this.state === READ_LENGTH) {
        if (this.headerFill === 0 && end - offset >= FRAME_HEADER_BYTES) {
          // Fast path: the whole prefix is in this chunk.
          this.bodyLength =
            ((chunk[offset]! << 24) | (chunk[offset + 1]! << 16) | (chunk[offset + 2]! << 8) | chunk[offset + 3]!) >>> 0;
          offset += FRAME_HEADER_BYTES;
        } else {
          while (this.headerFill < FRAME_HEADER_BYTES && offset < end) this.header[this.headerFill++] = chunk[offset++]!;
          if (this.headerFill < FRAME_HEADER_BYTES) return;
          const h = this.header;
          this.bodyLength = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
          this.headerFill = 0;
        }
        checkBodyLength(this.bodyLength, this.maxFrameBytes);
        this.state = READ_BODY;
      }
      const need = this.bodyLength - this.bodyFill;
      const have = end - offset;
      if (this.bodyFill === 0 && have >= need) {
        // Fast path: the whole body is in this chunk; hand out a view.
        const body = chunk.subarray(offset, offset + need);
        offset += need;
        this.state = READ_LENGTH;
        this.onFrame(body);
        continue;
      }
      const take = have < need ? have : need;
      this.bodyParts.push(chunk.subarray(offset, offset + take));
      this.bodyFill += take;
      offset += take;
      if (this.bodyFill < this.bodyLength) return;
      const body = new Uint8Array(this.bodyLength);
      let at = 0;
      for (const part of this.bodyParts) {
        body.set(part, at);
        at += part.length;
      }
      this.bodyParts = [];
      this.bodyFill = 0;
      this.state = READ_LENGTH;
      this.onFrame(body);
    }
  }
}

/**
 * Prefixes a body with its u32be length: one allocation, one copy.
 * @throws JanusError JANUS_ERR_FRAME_EMPTY or JANUS_ERR_FRAME_TOO_LARGE.
 */
export function encodeFrame(body: Uint8Array, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  checkBodyLength(body.length, maxFrameBytes);
  const frame = allocBytes(FRAME_HEADER_BYTES + body.length);
  const n = body.length;
  frame[0] = n >>> 24;
  frame[1] = (n >>> 16) & 0xff;
  frame[2] = (n >>> 8) & 0xff;
  frame[3] = n & 0xff;
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}
