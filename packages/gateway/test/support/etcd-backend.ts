/**
 * Backend instances registered in etcd through the backend SDK, for gateway tests: in this
 * process (startRegisteredBackend) or as a child process that a test can SIGKILL
 * (spawnRegisteredBackend, running etcd-backend-child.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { registerService, type ServiceRegistration } from '@janus/backend';
import { startDemoBackend, type DemoBackend } from '@janus/demo-backend';

/** Where and as what to register. */
export interface RegisterAs {
  endpoint: string;
  prefix: string;
  name: string;
  id: string;
  color: string;
  leaseTtlS: number;
  /** metadata.weight; default 100. */
  weight?: number;
}

/** A demo backend in this process, registered (ready) in etcd. */
export interface RegisteredBackend {
  backend: DemoBackend;
  reg: ServiceRegistration;
  /** `127.0.0.1:port` */
  address: string;
  stop(): Promise<void>;
}

/** Registers the backend at `address` (`127.0.0.1:port`) as `o` says; resolves once it is in etcd. */
export async function registerBackend(o: RegisterAs, address: string): Promise<ServiceRegistration> {
  const reg = await registerService({ etcd: { endpoints: [o.endpoint], prefix: o.prefix, leaseTtlS: o.leaseTtlS }, name: o.name, id: o.id, endpoints: [`grpc://${address}`], color: o.color, ...(o.weight ? { weight: o.weight } : {}) });
  await reg.ready();
  return reg;
}

/** Starts a demo backend here and registers it; resolves once it is in etcd. */
export async function startRegisteredBackend(o: RegisterAs): Promise<RegisteredBackend> {
  const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
  const address = `127.0.0.1:${backend.port}`;
  const reg = await registerBackend(o, address);
  return {
    backend,
    reg,
    address,
    async stop() {
      await reg.close();
      await backend.close();
    },
  };
}

/** A registered demo backend in a child process. */
export interface ChildBackend {
  address: string;
  /** SIGKILL: no deregistration, the lease expires after its TTL. */
  kill(): Promise<void>;
}

const childScript = join(dirname(fileURLToPath(import.meta.url)), 'etcd-backend-child.js');

/** Spawns etcd-backend-child.js; resolves once it printed `ready <port>`. */
export async function spawnRegisteredBackend(o: RegisterAs): Promise<ChildBackend> {
  const child: ChildProcess = spawn(process.execPath, [childScript, o.endpoint, o.prefix, o.name, o.id, o.color, String(o.leaseTtlS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (l) => {
      const m = /^ready (\d+)$/.exec(l);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`backend child said ${JSON.stringify(l)}`));
    });
    child.once('exit', (code) => reject(new Error(`backend child exited (${code}) before it was ready`)));
  });
  return {
    address: `127.0.0.1:${port}`,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
