/**
 * The node back end's record path (PROTOCOL.md 7.5): AES-256-GCM for the records of one
 * direction without a node:crypto cipher object per record. Such an object costs about
 * 3.5 µs to build and free (OpenSSL's cipher fetch and context, about 20 mallocs, a
 * garbage-collected handle) against well under 0.1 µs of actual AES-GCM work on 80 bytes;
 * a round trip through the gateway pays it four times. Here:
 *
 * - AES comes from one long-lived node:crypto `aes-256-ecb` cipher per direction (AES-NI):
 *   the hash key H = E(K, 0^128) once, and the keystream blocks E(K, J0 + i) of the next
 *   {@link BATCH_RECORDS} records in one call, since their nonces are known ahead
 *   (`iv XOR n`, n counting);
 * - GHASH, the CTR XOR and the tag check run in a small WebAssembly module
 *   (gcm-records.wat) in constant time: carry-less products from integer multiplies with
 *   holes, no secret-dependent branch or memory address.
 *
 * The bytes are exactly node:crypto's (tests compare both on random records, and the
 * vectors of ../shared/vectors/v1.json hold). Records longer than {@link WASM_RECORD_MAX}
 * bytes go to node:crypto's GCM, which is faster there. Figures and the reasoning:
 * docs/decisions/0026-record-layer-ghash-in-webassembly.md.
 */
import { createCipheriv, type Cipher } from 'node:crypto';
import { ErrorCode, JanusError } from '../errors.js';
import type { RecordAead } from './backend.js';
import { GCM_RECORDS_WASM } from './gcm-records-wasm.js';

/** Plaintext bytes at most on the WebAssembly path; longer records use node:crypto's GCM. */
export const WASM_RECORD_MAX = 1024;
/** Records whose keystream one AES call makes ahead. */
const BATCH_RECORDS = 8;
/** Keystream blocks made ahead per record: E(K, J0) and 7 data blocks. */
const BATCH_BLOCKS = 8;
const BLOCK = 16;
const TAG_BYTES = 16;
/** Plaintext bytes at most that the keystream made ahead covers (112). */
const BATCH_DATA_MAX = (BATCH_BLOCKS - 1) * BLOCK;
/** Keystream blocks at most of one record on the WebAssembly path: E(K, J0) and the data's. */
const RECORD_BLOCKS_MAX = 1 + WASM_RECORD_MAX / BLOCK;

// Offsets in the module's memory (the layout gcm-records.wat documents).
const H_AT = 0;
const TAG_AT = 256;
const PEER_TAG_AT = 272;
const KEYSTREAM_AT = 512;
const DATA_AT = 32768;

interface GcmExports {
  memory: WebAssembly.Memory;
  set_h(): void;
  seal(len: number): void;
  open(len: number): number;
}

let instance: { fn: GcmExports; mem: Uint8Array } | null = null;

/** The module, instantiated on first use (one per thread; calls are synchronous, so it is shared). */
function gcm(): { fn: GcmExports; mem: Uint8Array } {
  if (instance) return instance;
  const fn = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(GCM_RECORDS_WASM, 'base64')), {}).exports as unknown as GcmExports;
  // The memory never grows, so this view stays valid.
  instance = { fn, mem: new Uint8Array(fn.memory.buffer) };
  return instance;
}

/**
 * Counter blocks `nonce || be32(i)` laid out for one AES call, the counter words written
 * once: for a batch, BATCH_RECORDS records of BATCH_BLOCKS blocks (i = 1..8 each); for one
 * long record, RECORD_BLOCKS_MAX blocks (i = 1..65). Only the nonce words change per call.
 * Shared by every direction of the thread (used synchronously).
 */
function counterBlocks(records: number, blocks: number): { bytes: Buffer; view: DataView } {
  const bytes = Buffer.alloc(records * blocks * BLOCK);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let r = 0; r < records; r++) for (let b = 0; b < blocks; b++) view.setUint32((r * blocks + b) * BLOCK + 12, b + 1);
  return { bytes, view };
}
const batchCounters = counterBlocks(BATCH_RECORDS, BATCH_BLOCKS);
const longCounters = counterBlocks(1, RECORD_BLOCKS_MAX);

/** Keystream blocks of `len` data bytes, E(K, J0) included. */
function blocksFor(len: number): number {
  return 1 + ((len + BLOCK - 1) >>> 4);
}

/**
 * One direction's records under one key: {@link RecordAead} for the node back end.
 * Record `n` seals and opens to the same bytes as node:crypto's AES-256-GCM with nonce
 * `iv XOR (0x00000000 || u64be(n))`.
 */
export class GcmRecords implements RecordAead<true> {
  private readonly ecb: Cipher;
  private readonly h: Buffer;
  private readonly iv0: number;
  private readonly iv1: number;
  private readonly iv2: number;
  /**
   * Keystream of records batchStart .. batchStart + BATCH_RECORDS - 1 (BATCH_BLOCKS blocks
   * each). One buffer for the direction's life, refilled in place: a new one per batch would
   * outlive young-generation collections in a quiet session (8 records can take seconds)
   * and be promoted, which doubled the old-generation collections of 1,000 sessions at 5
   * records per second each (open-loop bench).
   */
  private readonly batch = new Uint8Array(BATCH_RECORDS * BATCH_BLOCKS * BLOCK);
  private batchStart = -1;

  /**
   * @param key the direction's AES-256 key, as node:crypto takes it.
   * @param iv the direction's 12-byte IV.
   * @param fallback the same key and IV's records through node:crypto's GCM (nonceRecords),
   *   for records over WASM_RECORD_MAX.
   * @throws JanusError JANUS_ERR_KEY_INVALID when `iv` is not 12 bytes.
   */
  constructor(
    key: Parameters<typeof createCipheriv>[1],
    iv: Uint8Array,
    private readonly fallback: RecordAead<true>,
  ) {
    if (iv.length !== 12) throw new JanusError(ErrorCode.KeyInvalid, `record IV must be 12 bytes, got ${iv.length}`);
    const v = new DataView(iv.buffer, iv.byteOffset, iv.length);
    this.iv0 = v.getUint32(0);
    this.iv1 = v.getUint32(4);
    this.iv2 = v.getUint32(8);
    this.ecb = createCipheriv('aes-256-ecb', key, null);
    this.ecb.setAutoPadding(false);
    this.h = this.ecb.update(new Uint8Array(BLOCK));
  }

  seal(n: number, plaintext: Uint8Array): Uint8Array {
    const len = plaintext.length;
    if (len > WASM_RECORD_MAX) return this.fallback.seal(n, plaintext);
    const { fn, mem } = this.load(n, len);
    mem.set(plaintext, DATA_AT);
    fn.seal(len);
    const out = Buffer.allocUnsafe(len + TAG_BYTES);
    out.set(mem.subarray(DATA_AT, DATA_AT + len), 0);
    out.set(mem.subarray(TAG_AT, TAG_AT + TAG_BYTES), len);
    return out;
  }

  open(n: number, sealed: Uint8Array): Uint8Array {
    if (sealed.length < TAG_BYTES) throw new JanusError(ErrorCode.RecordOpen, 'record shorter than its tag');
    const len = sealed.length - TAG_BYTES;
    if (len > WASM_RECORD_MAX) return this.fallback.open(n, sealed);
    const { fn, mem } = this.load(n, len);
    mem.set(sealed.subarray(0, len), DATA_AT);
    mem.set(sealed.subarray(len), PEER_TAG_AT);
    if (fn.open(len) !== 1) throw new JanusError(ErrorCode.RecordOpen, 'record does not authenticate');
    const out = Buffer.allocUnsafe(len);
    out.set(mem.subarray(DATA_AT, DATA_AT + len));
    return out;
  }

  /** Puts H and record n's keystream for `len` data bytes into the module; returns it. */
  private load(n: number, len: number): { fn: GcmExports; mem: Uint8Array } {
    const m = gcm();
    m.mem.set(this.h, H_AT);
    m.fn.set_h();
    m.mem.set(this.keystream(n, len), KEYSTREAM_AT);
    return m;
  }

  /** E(K, J0) and the data keystream of record n, `len` data bytes (len <= WASM_RECORD_MAX). */
  private keystream(n: number, len: number): Uint8Array {
    const blocks = blocksFor(len);
    if (len <= BATCH_DATA_MAX) {
      if (this.batchStart < 0 || n < this.batchStart || n >= this.batchStart + BATCH_RECORDS) this.fillBatch(n);
      const at = (n - this.batchStart) * BATCH_BLOCKS * BLOCK;
      return this.batch.subarray(at, at + blocks * BLOCK);
    }
    const { bytes, view } = longCounters;
    this.writeNonce(view, n, 0, blocks);
    return this.ecb.update(bytes.subarray(0, blocks * BLOCK));
  }

  /** Makes the keystream of records n .. n + BATCH_RECORDS - 1 in one AES call. */
  private fillBatch(n: number): void {
    const { bytes, view } = batchCounters;
    for (let r = 0; r < BATCH_RECORDS; r++) this.writeNonce(view, n + r, r * BATCH_BLOCKS, BATCH_BLOCKS);
    this.batch.set(this.ecb.update(bytes));
    this.batchStart = n;
  }

  /** Writes record n's nonce into `blocks` counter blocks from block `first` on. */
  private writeNonce(view: DataView, n: number, first: number, blocks: number): void {
    // nonce = iv XOR (0x00000000 || u64be(n)): the high half of n meets bytes 4..7.
    const w1 = (this.iv1 ^ Math.floor(n / 0x100000000)) >>> 0;
    const w2 = (this.iv2 ^ n) >>> 0;
    for (let b = first; b < first + blocks; b++) {
      const at = b * BLOCK;
      view.setUint32(at, this.iv0);
      view.setUint32(at + 4, w1);
      view.setUint32(at + 8, w2);
    }
  }
}
