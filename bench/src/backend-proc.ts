/**
 * Child process: the demo backend (Player Echo is the bench's request), on a free
 * loopback port, apart from the gateway and the load generator. Forked by load.ts with an
 * IPC channel; reports `ready` with ports `{ grpc }`. IPC contract in ipc.ts.
 */
import { startDemoBackend } from '@janus/demo-backend';
import { serveChild } from './ipc.js';

serveChild(async () => {
  const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
  return { ports: { grpc: backend.port }, close: () => backend.close() };
});
