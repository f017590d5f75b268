/**
 * A worker thread of the crypto pool (pool.ts): runs the asymmetric primitives of the
 * node:crypto back end off the gateway's event loop. Protocol of the port: the pool posts
 * `{ id, op, args }`, the worker answers `{ id, value }` or `{ id, error }` in order.
 */
import { parentPort } from 'node:worker_threads';
import type { SigningKey, VerifyKey } from './backend.js';
import { nodeCrypto } from './node.js';
import type { PoolReply, PoolRequest } from './pool.js';

/**
 * A copy of `b` that owns exactly its bytes. Why: structured clone copies a view's whole
 * ArrayBuffer, and node:crypto returns Buffers cut from an 8 KiB shared slab.
 */
function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

function run(req: PoolRequest): unknown {
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

const port = parentPort;
if (!port) throw new Error('pool-worker.js runs as a worker thread of CryptoPool');
port.on('message', (req: PoolRequest) => {
  let reply: PoolReply;
  try {
    reply = { id: req.id, value: run(req) };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
