/**
 * Test stack: fresh keys in a temp dir, the demo backend, and a gateway on free loopback
 * ports, all stopped by `stop()` (tests call it in t.after).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TracerProvider } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';
import { AuthToken_Status, parseTokenKey, sealToken, type SigningKey, type VerifyKey } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { startDemoBackend } from '@janus/demo-backend';
import { createGateway, keyFileNames, keygen, parseConfig, type Clock, type Gateway, type GatewayConfigInput, type PushBus, type RouteTable } from '../../src/index.js';

export interface TestKeys {
  dir: string;
  clientKey: SigningKey;
  clientKeyPem: string;
  serverPubPem: string;
  pins: Map<number, VerifyKey>;
  tokenKey: Uint8Array;
}

/** Writes a v1 key set with `janus keygen`'s own code into a temp dir and loads it. */
export async function makeKeys(): Promise<TestKeys> {
  const dir = mkdtempSync(join(tmpdir(), 'janus-test-keys-'));
  await keygen({ outDir: dir });
  const names = keyFileNames(1);
  const clientKeyPem = readFileSync(join(dir, names.clientKey), 'utf8');
  const serverPubPem = readFileSync(join(dir, names.serverPub), 'utf8');
  return {
    dir,
    clientKey: nodeCrypto.importSigningKey(clientKeyPem),
    clientKeyPem,
    serverPubPem,
    pins: new Map([[1, nodeCrypto.importVerifyKey(serverPubPem)]]),
    tokenKey: parseTokenKey(readFileSync(join(dir, names.tokenKey), 'utf8')),
  };
}

export interface Stack {
  gw: Gateway;
  keys: TestKeys;
  backend: { port: number; close(): Promise<void> } | null;
  backendPort: number;
  token(uid: number | bigint, o?: { color?: string; serverId?: bigint; ttlS?: number }): Promise<string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Extra config (deep-merged at the top level keys given). */
  config?: GatewayConfigInput;
  /** Start no backend (its port is still reserved in the config). */
  noBackend?: boolean;
  keys?: TestKeys;
  clock?: Clock;
  routeTable?: RouteTable;
  /** The gateway's logger; default: silent, or JANUS_TEST_LOG's level. */
  logger?: Logger;
  /** The gateway's OpenTelemetry tracer provider (GatewayOptions.tracerProvider). */
  tracerProvider?: TracerProvider;
  /** The gateway's push bus (GatewayOptions.pushBus). */
  pushBus?: PushBus;
}

/** Starts the demo backend and a gateway in front of it. */
export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const keys = o.keys ?? (await makeKeys());
  let backend = o.noBackend ? null : await startDemoBackend({ host: '127.0.0.1', port: 0 });
  const backendPort = backend?.port ?? 1; // port 1 on loopback: nothing listens, connections are refused
  const instances = [{ id: 'demo-1', endpoints: [`grpc://127.0.0.1:${backendPort}`] }];
  const base: GatewayConfigInput = {
    listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 19100 } },
    keys: { dir: keys.dir },
    discovery: { static: { 'roma.player.service': instances, 'roma.room.service': instances } },
    timeouts: { shutdownMs: 2000, tunnelConnectMs: 1000 },
    log: { level: 'silent' },
    management: { host: '127.0.0.1', port: 0 },
    // prom-client's process metrics start an event-loop monitor and a GC observer that live as
    // long as the process: off in the many gateways of a test run (metrics.e2e turns them on).
    metrics: { processMetrics: false },
  };
  const cfg = parseConfig({ ...base, ...o.config });
  const gw = await createGateway(cfg, { logger: o.logger ?? pino({ level: process.env.JANUS_TEST_LOG ?? 'silent' }), ...(o.clock ? { clock: o.clock } : {}), ...(o.routeTable ? { routeTable: o.routeTable } : {}), ...(o.tracerProvider ? { tracerProvider: o.tracerProvider } : {}), ...(o.pushBus ? { pushBus: o.pushBus } : {}) });
  return {
    gw,
    keys,
    get backend() {
      return backend;
    },
    set backend(b) {
      backend = b;
    },
    backendPort,
    async token(uid, t = {}) {
      return sealToken(nodeCrypto, keys.tokenKey, {
        accountId: BigInt(uid),
        serverId: t.serverId ?? 1n,
        color: t.color ?? '',
        timeout: BigInt(Math.floor(Date.now() / 1000) + (t.ttlS ?? 3600)),
        status: AuthToken_Status.GATE,
      });
    },
    async stop() {
      await gw.close();
      await backend?.close();
      rmSync(keys.dir, { recursive: true, force: true });
    },
  };
}
