/**
 * Packet data compression (PROTOCOL.md 8): `compress = true` means `data` is zlib
 * (RFC 1950), never raw deflate or gzip. Inflating is bounded while it runs: node:zlib
 * stops as soon as the output passes `maxOutputLength`, so a small bomb never grows past
 * the limit in memory.
 */
import { deflate, inflate } from 'node:zlib';
import { ErrorCode, JanusError } from '@janus/protocol';

/**
 * Inflates zlib data, refusing output over `maxBytes`.
 * @throws JanusError JANUS_ERR_INFLATE when the output would pass `maxBytes` (details
 *   `maxInflateBytes`) or the data is not valid zlib.
 */
export function inflateLimited(data: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    inflate(data, { maxOutputLength: maxBytes }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        reject(new JanusError(ErrorCode.InflateLimit, `inflated data is over maxInflateBytes ${maxBytes}`, { maxInflateBytes: maxBytes }));
      } else {
        reject(new JanusError(ErrorCode.InflateLimit, `compressed data is not valid zlib: ${err.message}`));
      }
    });
  });
}

/** Deflates data into the zlib format (RFC 1950) at the default level. */
export function deflateData(data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    deflate(data, (err, out) => (err ? reject(new JanusError(ErrorCode.InflateLimit, `deflate failed: ${err.message}`)) : resolve(out)));
  });
}
