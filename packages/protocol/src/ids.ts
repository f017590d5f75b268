import { ErrorCode, JanusError } from './errors.js';

/**
 * Converts an int64 id to a JavaScript number for SDK APIs (PROTOCOL.md 3).
 * @throws JanusError JANUS_ERR_ID_OUT_OF_RANGE beyond ±(2^53 - 1).
 */
export function int64ToNumber(v: bigint, what = 'id'): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new JanusError(ErrorCode.IdOutOfRange, `${what} ${v} does not fit a JavaScript number (beyond 2^53 - 1)`);
  }
  return Number(v);
}
