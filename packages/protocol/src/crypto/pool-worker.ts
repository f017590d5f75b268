/**
 * A worker thread of the crypto pool (pool.ts): runs the asymmetric primitives of the
 * node:crypto back end off the gateway's event loop. Protocol of the port: the pool posts
 * a batch of requests `[{ id, op, ...args }]`, the worker answers the batch with
 * `[{ id, value } | { id, error }]` in the same order.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { runPoolJob, type PoolReply, type PoolRequest, type PoolWorkerData } from './pool-jobs.js';

const port = parentPort;
if (!port) throw new Error('pool-worker.js runs as a worker thread of CryptoPool');
// Linux: pid 0 is the calling thread, and its nice value is its own (setpriority(2), NOTES);
// elsewhere pid 0 would be the whole process, so the priority is left alone there.
if (process.platform === 'linux') {
  try {
    setPriority(0, (workerData as PoolWorkerData).nice);
  } catch {
    // A higher priority without CAP_SYS_NICE: the thread keeps the one it has.
  }
}
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
