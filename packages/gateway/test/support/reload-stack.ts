/**
 * A gateway started from a YAML file the test rewrites, for reload tests: keys (v1) in a
 * temp dir that also holds the config file, the demo backend, and raw clients that pick
 * their client key version and pinned server key version.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { stringify } from 'yaml';
import { AuthToken_Status, decodeMessage, decodePacket, SCServerLogoutSchema, sealToken, type SigningKey, type VerifyKey } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { startDemoBackend } from '@janus/demo-backend';
import { createGateway, fileConfigSource, keyFileNames, keygen, loadConfigFile, type Clock, type Gateway, type ReloadResult } from '../../src/index.js';
import { RawClient } from './raw-client.js';
import { str, text } from './session.js';
import { makeKeys, type TestKeys } from './stack.js';

/** One key version's client half: the client signing key and the server public key to pin. */
export interface VersionKeys {
  version: number;
  clientKey: SigningKey;
  serverPub: VerifyKey;
}

/** Reads version `v`'s client key and server public key from a key directory. */
export function versionKeys(dir: string, v: number): VersionKeys {
  const n = keyFileNames(v);
  return {
    version: v,
    clientKey: nodeCrypto.importSigningKey(readFileSync(join(dir, n.clientKey), 'utf8')),
    serverPub: nodeCrypto.importVerifyKey(readFileSync(join(dir, n.serverPub), 'utf8')),
  };
}

export interface FileStack {
  gw: Gateway;
  keys: TestKeys;
  /** The config file (inside keys.dir). */
  file: string;
  backendPort: number;
  /** Every reload result so far, in order (GatewayOptions.onReload). */
  reloads: ReloadResult[];
  /** Rewrites the config file: the base config with `extra`'s top-level sections replacing its own. */
  write(extra?: Record<string, unknown>): void;
  /** Writes key version `v` with `janus keygen`'s code (token.key is kept) and loads its client half. */
  addVersion(v: number): Promise<VersionKeys>;
  /** A token for `uid` sealed with `tokenKey` (default the directory's token.key). */
  token(uid: number, tokenKey?: Uint8Array): Promise<string>;
  /** Connects, handshakes with `v` (client key version and pinned server version) and logs in. */
  login(kind: 'tcp' | 'ws', uid: number, v: VersionKeys, tokenKey?: Uint8Array): Promise<RawClient>;
  stop(): Promise<void>;
}

/** The management server's admin token in every file stack. */
export const RELOAD_ADMIN_TOKEN = 'reload-test-admin-token-0123456789';

/** The config every test starts from (the file is in the key directory: keys.dir is "."). */
function baseConfig(backendPort: number): Record<string, unknown> {
  const instances = [{ id: 'demo-1', endpoints: [`grpc://127.0.0.1:${backendPort}`] }];
  return {
    listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 19100 } },
    management: { host: '127.0.0.1', port: 0, adminToken: RELOAD_ADMIN_TOKEN },
    metrics: { processMetrics: false },
    keys: { dir: '.' },
    discovery: { static: { 'roma.player.service': instances } },
    timeouts: { shutdownMs: 2000, tunnelConnectMs: 1000 },
    log: { level: 'silent' },
  };
}

/** Starts the demo backend and a gateway from a config file, with a file config source. */
export async function startFileStack(o: { extra?: Record<string, unknown>; clock?: Clock; logger?: Logger } = {}): Promise<FileStack> {
  const keys = await makeKeys();
  const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
  const file = join(keys.dir, 'gateway.yaml');
  const write = (extra: Record<string, unknown> = {}): void => writeFileSync(file, stringify({ ...baseConfig(backend.port), ...extra }));
  write(o.extra);
  const reloads: ReloadResult[] = [];
  const gw = await createGateway(loadConfigFile(file), {
    logger: o.logger ?? pino({ level: process.env.JANUS_TEST_LOG ?? 'silent' }),
    configSource: fileConfigSource(file),
    onReload: (r) => reloads.push(r),
    ...(o.clock ? { clock: o.clock } : {}),
  });
  const token = (uid: number, tokenKey = keys.tokenKey) =>
    sealToken(nodeCrypto, tokenKey, {
      accountId: BigInt(uid),
      serverId: 1n,
      timeout: BigInt(Math.floor(Date.now() / 1000) + 3600),
      status: AuthToken_Status.GATE,
    });
  return {
    gw,
    keys,
    file,
    backendPort: backend.port,
    reloads,
    write,
    async addVersion(v) {
      await keygen({ outDir: keys.dir, version: v });
      return versionKeys(keys.dir, v);
    },
    token,
    async login(kind, uid, v, tokenKey) {
      const c = await RawClient.connect(kind, kind === 'tcp' ? gw.tcpPort : gw.wsPort);
      await c.handshake(v.clientKey, new Map([[v.version, v.serverPub]]), { certVersion: v.version, serverCertVersion: v.version });
      const auth = c.sendAuth(await token(uid, tokenKey));
      const reply = await c.nextPacket();
      assert.deepEqual([reply?.mod, reply?.seq, reply?.index], [1, 5, auth.index], 'expected SCAuth');
      return c;
    },
    async stop() {
      await gw.close();
      await backend.close();
      rmSync(keys.dir, { recursive: true, force: true });
    },
  };
}

/** Sends a Player Echo (mod 3 seq 1) and checks the reply carries the same bytes and index. */
export async function echo(c: RawClient, s: string): Promise<void> {
  const req = c.send({ mod: 3, seq: 1, data: text(s) });
  const p = await c.nextPacket();
  assert.deepEqual([p?.mod, p?.seq, p?.index, str(p?.data)], [3, 1, req.index, s], 'expected the echo');
}

/** Reads the plaintext ServerLogout a refused CSHandshake gets; returns its code once the socket closed. */
export async function helloRefusal(c: RawClient, clientKey: SigningKey, o: { certVersion: number; serverCertVersion: number }): Promise<number> {
  const body = await c.sendHello(clientKey, o);
  assert.ok(body, 'expected a ServerLogout before the close');
  const p = decodePacket(body);
  assert.deepEqual([p.mod, p.seq], [1, 4], 'expected a plaintext ServerLogout');
  return decodeMessage(SCServerLogoutSchema, p.data).code;
}
