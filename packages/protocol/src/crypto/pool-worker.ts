/**
 * A worker thread of the crypto pool (pool.ts): runs the asymmetric primitives of the
 * node:crypto back end off the gateway's event loop. Protocol of the port: the pool posts
 * a batch of requests `[{ id, op, ...args }]`, the worker answers the batch with
 * `[{ id, value } | { id, error }]` in the same order.
 */
import { parentPort } from 'node:worker_threads';
import { runPoolJob, type PoolReply, type PoolRequest } from './pool-jobs.js';

const port = parentPort;
if (!port) throw new Error('pool-worker.js runs as a worker thread of CryptoPool');
port.on('message', (batch: PoolRequest[]) => {
  const replies: PoolReply[] = [];
  for (const req of batch) {
    try {
      replies.push({ id: req.id, value: runPoolJob(req) });
    } catch (err) {
      replies.push({ id: req.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  port.postMessage(replies);
});
