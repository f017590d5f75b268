/**
 * System "proxy" of bench:compare: the plain Node TCP proxy (proxy-proc.ts) in front of the
 * plain echo server (echo-proc.ts), two processes, 4-byte length framing, no crypto, no
 * protobuf. The floor of what a Node process in the middle costs.
 */
import { BenchChild } from '../child.js';
import { BODY_HEAD_BYTES, ProxyKind } from './framing.js';
import { ProxyClient } from './proxy-client.js';
import { ECHO_PORT_ENV } from './proxy-env.js';
import { failWhenExited, type BenchSession, type RunningSystem, type StartContext } from './system.js';

const CHILD_STOP_MS = 15000;

function roomBytes(room: number, text?: string): Buffer {
  const t = text === undefined ? null : Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(4 + (t?.length ?? 0));
  out.writeUInt32BE(room, 0);
  if (t) t.copy(out, 4);
  return out;
}

class ProxySession implements BenchSession {
  constructor(
    private readonly client: ProxyClient,
    private readonly payload: Uint8Array,
  ) {}

  async echo(): Promise<boolean> {
    const body = await this.client.request(ProxyKind.Echo, this.payload);
    return body[0] === ProxyKind.Echo && body.subarray(BODY_HEAD_BYTES).equals(this.payload);
  }

  async join(room: number): Promise<void> {
    await this.client.request(ProxyKind.Join, roomBytes(room));
  }

  async say(room: number, text: string): Promise<void> {
    await this.client.request(ProxyKind.Say, roomBytes(room, text));
  }

  onPush(fn: (text: string) => void): void {
    this.client.onPush((data) => fn(data.toString('utf8')));
  }

  get closed(): boolean {
    return this.client.closed;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Starts the echo server, then the proxy connected to it. */
export async function startProxy(ctx: StartContext): Promise<RunningSystem> {
  const children: BenchChild[] = [];
  let guard: ReturnType<typeof failWhenExited> | undefined;
  const stop = async (): Promise<void> => {
    guard?.disarm();
    for (const c of [...children].reverse()) await c.stop(CHILD_STOP_MS);
  };
  try {
    const onLine = (name: string) => (line: string) => ctx.log(`[${name}] ${line}`);
    const echo = await BenchChild.start({ name: 'echo server', script: new URL('./echo-proc.js', import.meta.url), onLine: onLine('echo') });
    children.push(echo);
    const proxy = await BenchChild.start({
      name: 'proxy',
      script: new URL('./proxy-proc.js', import.meta.url),
      env: { [ECHO_PORT_ENV]: String(echo.ports.tcp!) },
      onLine: onLine('proxy'),
    });
    children.push(proxy);
    guard = failWhenExited(children.map((c) => ({ exited: c.exited, error: () => c.exitError() })));
    const port = proxy.ports.tcp!;
    ctx.log(`proxy: proxy pid ${proxy.pid} tcp 127.0.0.1:${port}, echo server pid ${echo.pid}`);
    return {
      name: 'proxy',
      processes: [
        { role: 'front', label: 'proxy', usage: () => proxy.usage() },
        { role: 'backend', label: 'echo server', usage: () => echo.usage() },
      ],
      failed: guard.failed,
      connect: async () => new ProxySession(await ProxyClient.connect('127.0.0.1', port), ctx.payload),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
