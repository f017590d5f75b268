/**
 * Helpers of the bounds tests: an honest client on another loopback address, a route table
 * that reports (or never answers) the gateway's calls, and plain gRPC tunnel backends whose
 * streams a test can stall.
 */
import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { tunnelServiceDefinition } from '@janus/backend';
import type { TunnelMessage } from '@janus/protocol';
import { GATE_SERVICE_NAME, MemoryRouteTable, routeKey, type RouteTable } from '../../src/index.js';
import type { RawClient } from './raw-client.js';
import { loggedIn, str, text } from './session.js';
import type { Stack } from './stack.js';

/** The address honest clients connect from; the gateway listens on 127.0.0.1, abusers use that. */
export const HONEST_ADDRESS = '127.0.0.2';

/** Logs `uid` in from {@link HONEST_ADDRESS}. */
export function honestClient(stack: Stack, uid: number, kind: 'tcp' | 'ws' = 'tcp'): Promise<RawClient> {
  return loggedIn(stack, kind, uid, { localAddress: HONEST_ADDRESS });
}

/** One echo round trip (Player Echo, mod 3 seq 1): the reply carries the request's index and data. */
export async function echo(c: RawClient, what = 'still served'): Promise<void> {
  const req = c.send({ mod: 3, seq: 1, data: text(what) });
  const r = await c.nextPacket();
  assert.deepEqual([r?.mod, r?.seq, r?.index, str(r?.data)], [3, 1, req.index, what], 'echo round trip');
}

/** One-shot named signals: wait() before or after fire() resolves once fired. */
export class Signals {
  private readonly m = new Map<string, { p: Promise<void>; fire: () => void }>();

  private entry(key: string): { p: Promise<void>; fire: () => void } {
    let e = this.m.get(key);
    if (!e) {
      let fire!: () => void;
      const p = new Promise<void>((r) => (fire = r));
      e = { p, fire };
      this.m.set(key, e);
    }
    return e;
  }

  wait(key: string): Promise<void> {
    return this.entry(key).p;
  }

  fire(key: string): void {
    this.entry(key).fire();
  }
}

const gateKey = (uid: number | bigint): string => routeKey(GATE_SERVICE_NAME, '', BigInt(uid));

/**
 * The in-memory route table, with events: `setReached(uid)` when the gateway writes the
 * gateway entry of `uid` at login, `released(uid)` when it deletes it (the connection
 * closed). `set()` of a uid in `hang` never resolves (a remote table that stopped answering).
 */
export class WatchedRouteTable extends MemoryRouteTable implements RouteTable {
  private readonly signals = new Signals();

  constructor(private readonly hang: ReadonlySet<bigint> = new Set()) {
    super();
  }

  setReached(uid: number | bigint): Promise<void> {
    return this.signals.wait(`set ${gateKey(uid)}`);
  }

  released(uid: number | bigint): Promise<void> {
    return this.signals.wait(`delete ${gateKey(uid)}`);
  }

  override set(key: string, value: string, ttlS: number): Promise<string | null> {
    this.signals.fire(`set ${key}`);
    for (const uid of this.hang) if (key === gateKey(uid)) return new Promise<string | null>(() => {});
    return super.set(key, value, ttlS);
  }

  override deleteIfEquals(key: string, value: string): Promise<boolean> {
    this.signals.fire(`delete ${key}`);
    return super.deleteIfEquals(key, value);
  }
}

/** A grpc-js tunnel call as a plain backend sees it. */
export type RawTunnelCall = grpc.ServerDuplexStream<TunnelMessage, TunnelMessage>;

/** The uid a stream's metadata carries. */
export function callUid(call: RawTunnelCall): bigint {
  return BigInt(String(call.metadata.get('x-md-global-uid')[0] ?? '0'));
}

/** A plain grpc-js server serving tunnel `handlers` by method path on 127.0.0.1. */
export async function startRawBackend(handlers: Record<string, (call: RawTunnelCall) => void>): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  for (const [path, handler] of Object.entries(handlers)) {
    server.addService(tunnelServiceDefinition(path), { Tunnel: handler });
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port, close: () => server.forceShutdown() };
}

/** Static discovery of the player and room services at one address (a config fragment). */
export function discoveryAt(port: number): { static: Record<string, { id: string; endpoints: string[] }[]> } {
  const instances = [{ id: 'raw-1', endpoints: [`grpc://127.0.0.1:${port}`] }];
  return { static: { 'roma.player.service': instances, 'roma.room.service': instances } };
}
