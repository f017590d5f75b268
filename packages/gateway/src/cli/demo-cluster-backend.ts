/**
 * One backend process of `janus demo --cluster`: the demo backend (@janus/demo-backend) on
 * 127.0.0.1:PORT, registered in etcd under one discovery name through the backend SDK's
 * registerService (PROTOCOL.md 10, Kratos layout). Prints `backend ready NAME ID PORT` once
 * registered; SIGTERM or SIGINT deregisters (the key is deleted at once) and stops it.
 *
 * argv: etcdEndpoint discoveryName instanceId port
 */
import { importOptional } from './optional.js';

const [etcdEndpoint, name, id, portArg] = process.argv.slice(2) as [string, string, string, string];
const hint = 'run the demo from a Janus checkout (npm ci && npm run demo:cluster)';
const { startDemoBackend } = await importOptional('@janus/demo-backend', 'janus demo --cluster', hint, () => import('@janus/demo-backend'));
const { registerService } = await importOptional('@janus/backend', 'janus demo --cluster', hint, () => import('@janus/backend'));

let stopping = false;
const stopped = new Promise<void>((resolve) => {
  const on = (): void => {
    stopping = true;
    resolve();
  };
  process.once('SIGTERM', on);
  process.once('SIGINT', on);
});

const backend = await startDemoBackend({ host: '127.0.0.1', port: Number(portArg) });
const reg = await registerService({ etcd: { endpoints: [etcdEndpoint] }, name, id, endpoints: [`grpc://127.0.0.1:${backend.port}`] });
await Promise.race([reg.ready(), stopped]);
if (!stopping) process.stdout.write(`backend ready ${name} ${id} ${backend.port}\n`);
await stopped;
const guard = setTimeout(() => process.exit(1), 10_000);
guard.unref();
await reg.close();
await backend.close();
clearTimeout(guard);
