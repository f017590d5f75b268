/**
 * System "janus" of bench:compare: `janus gateway` (bench/src/gateway-proc.ts, the same
 * config as `npm run bench`: encrypted, defaults but the rate limit) and the demo backend
 * (bench/src/backend-proc.ts), each in its own process; sessions are JanusClient over TCP.
 * Echo = Player Echo (mod 3 seq 1); rooms = the demo's Room module (mod 4: Join, Say, and
 * the Message push, docs/demo.md).
 */
import { JanusClient } from '@janus/client';
import { DemoModule, PlayerSeq, RoomSeq } from '@janus/demo-backend';
import { utf8 } from '@janus/protocol';
import { BenchChild } from '../child.js';
import { GATEWAY_CONFIG_ENV } from '../ipc.js';
import { makeBenchKeys } from '../keys.js';
import { benchGatewayConfig, GATEWAY_NODE_FLAGS } from '../run.js';
import { failWhenExited, type BenchSession, type RunningSystem, type StartContext } from './system.js';

const CHILD_STOP_MS = 15000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** A Janus client as a {@link BenchSession} of the demo backend (echo, rooms), with `payload` for each echo. */
export class JanusSession implements BenchSession {
  constructor(
    private readonly client: JanusClient,
    private readonly payload: Uint8Array,
  ) {}

  async echo(): Promise<boolean> {
    const reply = await this.client.request(DemoModule.Player, PlayerSeq.Echo, this.payload);
    return sameBytes(reply.data, this.payload);
  }

  async join(room: number): Promise<void> {
    await this.client.request(DemoModule.Room, RoomSeq.Join, utf8('{}'), { obj: BigInt(room) });
  }

  async say(room: number, text: string): Promise<void> {
    await this.client.request(DemoModule.Room, RoomSeq.Say, utf8(JSON.stringify({ text })), { obj: BigInt(room) });
  }

  onPush(fn: (text: string) => void): void {
    this.client.on('push', (p: { mod: number; seq: number; data: Uint8Array }) => {
      if (p.mod !== DemoModule.Room || p.seq !== RoomSeq.Message) return;
      const m = JSON.parse(Buffer.from(p.data).toString('utf8')) as { text?: unknown };
      if (typeof m.text === 'string') fn(m.text);
    });
  }

  get closed(): boolean {
    return this.client.closed;
  }

  close(): Promise<void> {
    return this.client.close().catch(() => {});
  }
}

/**
 * Starts the demo backend, then the gateway pointing at it.
 * @param encrypted false: gateway and clients in plaintext mode (system `janus-plaintext`).
 */
export async function startJanus(ctx: StartContext, encrypted: boolean): Promise<RunningSystem> {
  const keys = await makeBenchKeys();
  const children: BenchChild[] = [];
  const stop = async (): Promise<void> => {
    guard?.disarm();
    // Gateway first (it drains its tunnels), then the backend.
    for (const c of [...children].reverse()) await c.stop(CHILD_STOP_MS);
    keys.remove();
  };
  let guard: ReturnType<typeof failWhenExited> | undefined;
  try {
    const onLine = (name: string) => (line: string) => ctx.log(`[${name}] ${line}`);
    const backend = await BenchChild.start({ name: 'demo backend', script: new URL('../backend-proc.js', import.meta.url), onLine: onLine('backend') });
    children.push(backend);
    const gateway = await BenchChild.start({
      name: 'gateway',
      script: new URL('../gateway-proc.js', import.meta.url),
      execArgv: [...GATEWAY_NODE_FLAGS],
      env: { [GATEWAY_CONFIG_ENV]: JSON.stringify({ ...benchGatewayConfig(keys.dir, backend.ports.grpc!), encrypted }) },
      onLine: onLine('gateway'),
    });
    children.push(gateway);
    guard = failWhenExited(children.map((c) => ({ exited: c.exited, error: () => c.exitError() })));
    const port = gateway.ports.tcp!;
    ctx.log(`janus: gateway pid ${gateway.pid} tcp 127.0.0.1:${port}, demo backend pid ${backend.pid}`);
    return {
      name: encrypted ? 'janus' : 'janus-plaintext',
      processes: [
        { role: 'front', label: 'gateway', usage: () => gateway.usage() },
        { role: 'backend', label: 'demo backend', usage: () => backend.usage() },
      ],
      failed: guard.failed,
      connect: async (index) => {
        const client = await JanusClient.connect({
          transport: 'tcp',
          host: '127.0.0.1',
          port,
          token: await keys.token(BigInt(index + 1)),
          clientKeyPem: keys.clientKeyPem,
          serverKeys: { 1: keys.serverPubPem },
          encrypted,
        });
        return new JanusSession(client, ctx.payload);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
