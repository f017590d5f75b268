/**
 * System "pinus" of bench:compare: pinus (npm, a devDependency of bench/) run as pinus runs
 * an application: a master process that spawns, from config/servers.json, one connector
 * (hybridconnector over TCP, JSON bodies, route dictionary on) and one echo server; a
 * client request to `echo.echoHandler.echo` goes client -> connector -> pinus RPC
 * (msgRemote.forwardMessage) -> echo server -> back. Rooms are pinus channels on the echo
 * server; a push goes echo server -> RPC (channelRemote, one call per connector) ->
 * connector -> clients. The application lives in pinus/*.cts; this module writes its base
 * directory (config with free ports, one-line handler shims) into a temp directory.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChild } from '../child.js';
import { PinusClient } from './pinus-client.js';
import { failWhenExited, freePort, type BenchSession, type RunningSystem, type StartContext } from './system.js';
import { USAGE_PORT_ENV, UsageHub } from './usage-link.js';

/** pinus settings bench:compare uses. */
export interface PinusSettings {
  /** Route compression (connector useDict, and the client sends codes). Default true. */
  useDict: boolean;
  /** Connector heartbeat interval (s). Default 10. */
  heartbeatS: number;
}

const CONNECTOR_ID = 'connector-server-1';
const ECHO_ID = 'echo-server-1';
const STOP_MS = 10000;
const START_MS = 30000;

/** The route of the echo request. */
export const PINUS_ECHO_ROUTE = 'echo.echoHandler.echo';

/** The payload as pinus's JSON body carries it: one printable ASCII character per byte. */
export function pinusPayloadString(payload: Uint8Array): string {
  let s = '';
  for (const b of payload) s += String.fromCharCode(33 + (b % 94));
  return s;
}

class PinusSession implements BenchSession {
  constructor(
    private readonly client: PinusClient,
    private readonly data: string,
  ) {}

  async echo(): Promise<boolean> {
    const res = (await this.client.request(PINUS_ECHO_ROUTE, { d: this.data })) as { d?: unknown } | null;
    return res?.d === this.data;
  }

  async join(room: number): Promise<void> {
    await this.client.request('echo.echoHandler.join', { room });
  }

  async say(room: number, text: string): Promise<void> {
    await this.client.request('echo.echoHandler.say', { room, text });
  }

  onPush(fn: (text: string) => void): void {
    this.client.on('push', (route: string, body: { text?: unknown }) => {
      if (route === 'onChat' && typeof body?.text === 'string') fn(body.text);
    });
  }

  get closed(): boolean {
    return this.client.closed;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * Writes the pinus application base: config/master.json, config/servers.json (env
 * `production`), config/log4js.json (console, level warn: nothing per message, like the
 * gateway at info), and app/servers/{connector,echo}/handler/*.js shims requiring the
 * compiled handlers in pinus/.
 */
export function writePinusBase(dir: string, ports: { master: number; connectorRpc: number; client: number; echoRpc: number }): void {
  const here = fileURLToPath(new URL('./pinus/', import.meta.url));
  const write = (rel: string, text: string): void => {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  };
  const master = { id: 'master-server-1', host: '127.0.0.1', port: ports.master };
  write('config/master.json', JSON.stringify({ production: master, development: master }, null, 2));
  const servers = {
    connector: [{ id: CONNECTOR_ID, host: '127.0.0.1', port: ports.connectorRpc, clientHost: '127.0.0.1', clientPort: ports.client, frontend: true }],
    echo: [{ id: ECHO_ID, host: '127.0.0.1', port: ports.echoRpc }],
  };
  write('config/servers.json', JSON.stringify({ production: servers, development: servers }, null, 2));
  write(
    'config/log4js.json',
    JSON.stringify({ appenders: { console: { type: 'console' } }, categories: { default: { appenders: ['console'], level: 'warn' } } }, null, 2),
  );
  write('app/servers/connector/handler/entryHandler.js', `module.exports = require(${JSON.stringify(join(here, 'entry-handler.cjs'))});\n`);
  write('app/servers/echo/handler/echoHandler.js', `module.exports = require(${JSON.stringify(join(here, 'echo-handler.cjs'))});\n`);
}

const PROBE_ATTEMPT_MS = 2000;

/**
 * Waits until one echo request goes through the connector and the RPC to the echo server
 * and back, retrying with a new client every PROBE_ATTEMPT_MS, for START_MS at most. Why:
 * both servers report ready before the connector's RPC client has its link to the echo
 * server; when the load's first requests (1000 at once) arrive in that gap, pinus 1.7.4
 * sometimes never answers any of them (seen in 2 of 3 C = 1000 rounds before this probe:
 * 0 replies in the window, every request still pending).
 * @throws Error when no echo came back within START_MS.
 */
async function probeEcho(port: number, useDict: boolean, data: string): Promise<void> {
  const deadline = Date.now() + START_MS;
  for (;;) {
    const client = await boundClient(port, useDict, 0);
    let timer: NodeJS.Timeout | undefined;
    try {
      const res = (await Promise.race([
        client.request(PINUS_ECHO_ROUTE, { d: data }),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), PROBE_ATTEMPT_MS))),
      ])) as { d?: unknown } | null;
      if (res?.d === data) return;
    } finally {
      clearTimeout(timer);
      await client.close();
    }
    if (Date.now() > deadline) throw new Error(`pinus did not answer an echo request within ${START_MS} ms of starting`);
  }
}

/** A client connected to the connector and bound to `uid` (connector.entryHandler.bind). */
async function boundClient(port: number, useDict: boolean, uid: number): Promise<PinusClient> {
  const client = await PinusClient.connect({ host: '127.0.0.1', port, useDict });
  try {
    await client.request('connector.entryHandler.bind', { uid });
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}

/** Starts the pinus master, which starts the connector and the echo server. */
export async function startPinus(ctx: StartContext, settings: PinusSettings = { useDict: true, heartbeatS: 10 }): Promise<RunningSystem> {
  const base = mkdtempSync(join(tmpdir(), 'janus-bench-pinus-'));
  const hub = await UsageHub.start();
  let master: BenchChild | null = null;
  let guard: ReturnType<typeof failWhenExited> | undefined;
  const stop = async (): Promise<void> => {
    guard?.disarm();
    await hub.close(STOP_MS);
    await master?.stop(STOP_MS);
    rmSync(base, { recursive: true, force: true });
  };
  try {
    const ports = { master: await freePort(), connectorRpc: await freePort(), client: await freePort(), echoRpc: await freePort() };
    writePinusBase(base, ports);
    master = await BenchChild.start({
      name: 'pinus master',
      script: new URL('./pinus/app.cjs', import.meta.url),
      env: {
        NODE_ENV: 'production',
        JANUS_BENCH_PINUS_BASE: base,
        [USAGE_PORT_ENV]: String(hub.port),
        JANUS_BENCH_PINUS_DICT: settings.useDict ? '1' : '0',
        JANUS_BENCH_PINUS_HEARTBEAT: String(settings.heartbeatS),
      },
      readyTimeoutMs: START_MS,
      onLine: (line) => ctx.log(`[pinus] ${line}`),
    });
    const m = master;
    let timer: NodeJS.Timeout | undefined;
    const [connector, echo] = await Promise.race([
      hub.waitFor([CONNECTOR_ID, ECHO_ID]),
      m.exited.then(() => Promise.reject(m.exitError())),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`pinus servers did not start within ${START_MS} ms`)), START_MS))),
    ]).finally(() => clearTimeout(timer));
    guard = failWhenExited([
      { exited: m.exited, error: () => m.exitError() },
      { exited: connector!.gone, error: () => new Error(`pinus connector (pid ${connector!.pid}) exited`) },
      { exited: echo!.gone, error: () => new Error(`pinus echo server (pid ${echo!.pid}) exited`) },
    ]);
    ctx.log(`pinus: master pid ${m.pid}, connector pid ${connector!.pid} tcp 127.0.0.1:${ports.client}, echo server pid ${echo!.pid}`);
    const data = pinusPayloadString(ctx.payload);
    await probeEcho(ports.client, settings.useDict, data);
    return {
      name: 'pinus',
      processes: [
        { role: 'front', label: 'connector', usage: () => connector!.usage() },
        { role: 'backend', label: 'echo server', usage: () => echo!.usage() },
        { role: 'master', label: 'master', usage: () => m.usage() },
      ],
      failed: guard.failed,
      connect: async (index) => new PinusSession(await boundClient(ports.client, settings.useDict, index + 1), data),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
