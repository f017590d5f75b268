/**
 * Starts an EtcdServer and prints `{"endpoint","dataDir"}`, then idles: the harness test
 * SIGKILLs this process to check that its etcd does not outlive it.
 */
import { EtcdServer } from './etcd-server.js';

const s = await EtcdServer.start();
process.stdout.write(`${JSON.stringify({ endpoint: s.endpoint, dataDir: s.dataDir })}\n`);
setInterval(() => {}, 1 << 30);
