/**
 * A worker thread of the crypto pool (pool.ts): runs the asymmetric primitives of the
 * node:crypto back end off the gateway's event loop. Protocol of the port: the pool posts
 * `{ id, op, args }`, the worker answers `{ id, value }` or `{ id, error }` in order.
 */
import { parentPort } from 'node:worker_threads';
import { runPoolJob, type PoolReply, type PoolRequest } from './pool-jobs.js';

const port = parentPort;
if (!port) throw new Error('pool-worker.js runs as a worker thread of CryptoPool');
port.on('message', (req: PoolRequest) => {
  let reply: PoolReply;
  try {
    reply = { id: req.id, value: runPoolJob(req) };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
