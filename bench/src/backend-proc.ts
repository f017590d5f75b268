/**
 * Child process: the demo backend (Player Echo is the bench's request), on a loopback
 * port, apart from the gateway and the load generator. Forked by load.ts and soak-run.ts
 * with an IPC channel; reports `ready` with ports `{ grpc }`. IPC contract in ipc.ts.
 *
 *   JANUS_BENCH_BACKEND_PORT=N  bind port N (the soak restarts its backend on the same
 *                               port); default 0, a free port.
 */
import { startDemoBackend } from '@janus/demo-backend';
import { BACKEND_PORT_ENV, serveChild } from './ipc.js';

serveChild(async () => {
  const backend = await startDemoBackend({ host: '127.0.0.1', port: Number(process.env[BACKEND_PORT_ENV] ?? 0) });
  return { ports: { grpc: backend.port }, close: () => backend.close() };
});
