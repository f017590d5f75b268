/**
 * Packet data compression in browsers (PROTOCOL.md 8) with the platform's own
 * CompressionStream / DecompressionStream, whose `'deflate'` format is zlib (RFC 1950), the
 * format `compress = true` means. Inflating is bounded while it runs: output is read chunk
 * by chunk and the stream is cancelled as soon as the total passes the limit.
 */
import { concatBytes, ErrorCode, JanusError } from '@janus/protocol';

function missing(): JanusError {
  return new JanusError(ErrorCode.InflateLimit, 'this browser has no CompressionStream / DecompressionStream (zlib): compressed Packets cannot be handled');
}

/** Reads a byte stream to its end, or until `maxBytes` would be passed (then null). */
async function readAll(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(...chunks);
}

/** Runs `data` through a transform stream and collects the output (bounded). */
async function transform(ts: TransformStream<Uint8Array, Uint8Array>, data: Uint8Array, maxBytes: number): Promise<Uint8Array | null> {
  const writer = ts.writable.getWriter();
  // The write and close settle only as output is read; their failures surface in the read.
  writer.write(data).catch(() => {});
  writer.close().catch(() => {});
  return readAll(ts.readable, maxBytes);
}

/**
 * Inflates zlib data, refusing output over `maxBytes`.
 * @throws JanusError JANUS_ERR_INFLATE over the limit (details `maxInflateBytes`), for data
 *   that is not valid zlib, or when the browser has no DecompressionStream.
 */
export async function inflateWeb(data: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  if (typeof DecompressionStream !== 'function') throw missing();
  let out: Uint8Array | null;
  try {
    out = await transform(new DecompressionStream('deflate') as TransformStream<Uint8Array, Uint8Array>, data, maxBytes);
  } catch (err) {
    throw new JanusError(ErrorCode.InflateLimit, `compressed data is not valid zlib: ${(err as Error).message}`);
  }
  if (out === null) throw new JanusError(ErrorCode.InflateLimit, `inflated data is over maxInflateBytes ${maxBytes}`, { maxInflateBytes: maxBytes });
  return out;
}

/**
 * Deflates into zlib (RFC 1950) at the browser's default level.
 * @throws JanusError JANUS_ERR_INFLATE when the browser has no CompressionStream.
 */
export async function deflateWeb(data: Uint8Array): Promise<Uint8Array> {
  if (typeof CompressionStream !== 'function') throw missing();
  // Deflate output is never much larger than its input (stored blocks: 5 bytes per 64 KiB).
  const out = await transform(new CompressionStream('deflate') as TransformStream<Uint8Array, Uint8Array>, data, data.length + 1024 + (data.length >> 10));
  if (out === null) throw new JanusError(ErrorCode.InflateLimit, 'deflate output grew past its bound');
  return out;
}
