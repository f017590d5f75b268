/**
 * A backend process for etcd tests: the demo backend on a free 127.0.0.1 port, registered
 * through the backend SDK's registerService. Prints `ready <port>` once registered. Exits
 * when its stdin closes (the test process is gone), so a test can SIGKILL it to play a
 * crashed instance whose lease then expires.
 *
 * argv: etcdEndpoint prefix discoveryName id color leaseTtlS
 */
import { registerService } from '@janus/backend';
import { startDemoBackend } from '@janus/demo-backend';

const [endpoint, prefix, name, id, color, ttl] = process.argv.slice(2) as [string, string, string, string, string, string];
const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
const reg = await registerService({
  etcd: { endpoints: [endpoint], prefix, leaseTtlS: Number(ttl) },
  name,
  id,
  endpoints: [`grpc://127.0.0.1:${backend.port}`],
  color,
});
await reg.ready();
process.stdout.write(`ready ${backend.port}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void reg.close().then(() => backend.close()).then(() => process.exit(0));
});
