/**
 * The jobs of the crypto pool (pool.ts), shared by its worker threads (pool-worker.ts) and
 * its inline mode.
 */
import type { SigningKey, VerifyKey } from './backend.js';
import { nodeCrypto } from './node.js';

/** One job for the pool. Internal. */
export type PoolJob =
  | { op: 'x25519Generate'; count: number }
  | { op: 'x25519'; privateKey: unknown; peerPublic: Uint8Array }
  | { op: 'ed25519Sign'; key: unknown; message: Uint8Array }
  | { op: 'ed25519Verify'; key: unknown; message: Uint8Array; signature: Uint8Array };

/** What a worker thread starts with (its `workerData`). Internal. */
export interface PoolWorkerData {
  /** The thread's OS nice value (CryptoPoolOptions.workerNice). */
  nice: number;
}

/** A job posted to a worker (pool-worker.ts), with its request id. Internal. */
export type PoolRequest = PoolJob & { id: number };

/** A worker's answer to the request `id`. Internal. */
export type PoolReply = { id: number; value: unknown; error?: undefined } | { id: number; error: string; value?: undefined };

/**
 * A copy of `b` that owns exactly its bytes. Why: structured clone copies a view's whole
 * ArrayBuffer, and node:crypto returns Buffers cut from an 8 KiB shared slab.
 */
export function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

/**
 * Runs one pool job with the synchronous node:crypto back end: in a worker thread, or on
 * the calling thread for a pool of 0 threads. Byte results own their buffers.
 * @throws Error as node:crypto does (e.g. a low-order X25519 key, a wrong key type).
 */
export function runPoolJob(req: PoolJob): unknown {
  switch (req.op) {
    case 'x25519Generate': {
      const pairs = [];
      for (let i = 0; i < req.count; i++) {
        const p = nodeCrypto.x25519Generate();
        pairs.push({ privateKey: p.privateKey, publicKey: own(p.publicKey) });
      }
      return pairs;
    }
    case 'x25519':
      return own(nodeCrypto.x25519(req.privateKey, req.peerPublic));
    case 'ed25519Sign':
      return own(nodeCrypto.ed25519Sign({ kind: 'ed25519-private', handle: req.key } as SigningKey, req.message));
    case 'ed25519Verify':
      return nodeCrypto.ed25519Verify({ kind: 'ed25519-public', handle: req.key } as VerifyKey, req.message, req.signature);
  }
}

