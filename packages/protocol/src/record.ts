/**
 * The AEAD record layer, PROTOCOL.md 7.5: every body after the handshake is
 * `AES-256-GCM(d_key, nonce, aad=empty, Packet bytes) || tag(16)` with
 * `nonce = d_iv XOR (0x00000000 || u64be(n))`, `n` counting that direction's records from 0
 * up to 2^32 - 1. No nonce travels: a dropped, replayed or reordered record fails to open.
 */
import type { AeadKey, Out, RecordAead } from './crypto/backend.js';
import { ErrorCode, JanusError } from './errors.js';

/** Bytes of the GCM tag appended to every record. */
export const RECORD_TAG_BYTES = 16;
/** The largest record number of a direction (inclusive). */
export const MAX_RECORD_NUMBER = 0xffffffff;

const EMPTY_AAD = new Uint8Array(0);

/** Builds the nonce of record `n` (0 <= n <= 2^32 - 1) from a direction's 12-byte IV. */
export function recordNonce(iv: Uint8Array, n: number): Uint8Array {
  const nonce = new Uint8Array(iv); // a copy (Buffer#slice would be a view)
  // n < 2^32, so u64be(n) touches only the last four bytes.
  nonce[8]! ^= n >>> 24;
  nonce[9]! ^= (n >>> 16) & 0xff;
  nonce[10]! ^= (n >>> 8) & 0xff;
  nonce[11]! ^= n & 0xff;
  return nonce;
}

/**
 * Record n of one direction through `aead`'s plain seal/open, with {@link recordNonce} and
 * empty AAD: the record path of a back end that offers none of its own (AeadKey.records),
 * and the node back end's for records it leaves to node:crypto.
 */
export function nonceRecords<S extends boolean>(aead: AeadKey<S>, iv: Uint8Array): RecordAead<S> {
  return {
    seal: (n, plaintext) => aead.seal(recordNonce(iv, n), EMPTY_AAD, plaintext),
    open: (n, sealed) => aead.open(recordNonce(iv, n), EMPTY_AAD, sealed),
  };
}

/** One direction of the record layer: its records' AEAD and counter. */
abstract class RecordDirection<S extends boolean> {
  protected n = 0;
  /** The back end's record path (AeadKey.records), else {@link nonceRecords}. */
  protected readonly records: RecordAead<S>;

  constructor(aead: AeadKey<S>, iv: Uint8Array) {
    if (iv.length !== 12) throw new JanusError(ErrorCode.KeyInvalid, `record IV must be 12 bytes, got ${iv.length}`);
    this.records = aead.records ? aead.records(iv) : nonceRecords(aead, iv);
  }

  /** The number the next record will carry (= records handled so far). */
  get count(): number {
    return this.n;
  }

  /** The number of the record being handled; advances the counter. */
  protected next(): number {
    if (this.n > MAX_RECORD_NUMBER) {
      throw new JanusError(ErrorCode.RecordLimit, 'record counter past 2^32 - 1');
    }
    return this.n++;
  }
}

/** Seals outgoing records of one direction. */
export class RecordSealer<S extends boolean> extends RecordDirection<S> {
  /**
   * Seals the next record. The counter advances at the call (asynchronous back ends: keep
   * the results in call order).
   * @throws JanusError JANUS_ERR_RECORD_LIMIT past record 2^32 - 1.
   */
  seal(packetBytes: Uint8Array): Out<S, Uint8Array> {
    return this.records.seal(this.next(), packetBytes);
  }
}

/** Opens incoming records of one direction. */
export class RecordOpener<S extends boolean> extends RecordDirection<S> {
  /**
   * Opens the next record; returns the Packet bytes.
   * @throws JanusError JANUS_ERR_RECORD_OPEN (tampered, replayed, dropped, reordered) or
   *   JANUS_ERR_RECORD_LIMIT. Either way the connection must close.
   */
  open(record: Uint8Array): Out<S, Uint8Array> {
    return this.records.open(this.next(), record);
  }
}

/**
 * Test and tooling hook: starts a direction at record number `n`, an integer in
 * 0 .. 2^32 (2^32: the next record is refused with JANUS_ERR_RECORD_LIMIT).
 * @throws RangeError for any other `n` (it would give a nonce outside PROTOCOL.md 7.5's numbering).
 */
export function setRecordCount(d: RecordSealer<boolean> | RecordOpener<boolean>, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_RECORD_NUMBER + 1) throw new RangeError(`record number must be an integer in 0..2^32, got ${n}`);
  (d as unknown as { n: number }).n = n;
}
