/**
 * Session bookkeeping under slow adapters and unresponsive backends: the gateway route
 * entry survives a conflicting login racing a slow route table, and a backend that ignores
 * the half-close gets its stream cancelled.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { tunnelServiceDefinition } from '@janus/backend';
import { SCServerLogout_Code as Code } from '@janus/protocol';
import { GATE_SERVICE_NAME, MemoryRouteTable, routeKey, type RouteTable } from '../src/index.js';
import { loggedIn } from './support/session.js';
import { RawClient } from './support/raw-client.js';
import { startStack, type Stack } from './support/stack.js';

const stacks: Stack[] = [];
after(async () => {
  for (const s of stacks) await s.stop();
});

/** Applies writes at once but answers them late, as a remote table under load does. */
class SlowRouteTable extends MemoryRouteTable implements RouteTable {
  override async set(key: string, value: string, ttlS: number): Promise<string | null> {
    const old = await super.set(key, value, ttlS);
    await new Promise((r) => setTimeout(r, 300));
    return old;
  }
}

describe('gateway route entry', () => {
  it('stays with the newer connection when a conflicting login races a slow table', async () => {
    const table = new SlowRouteTable();
    const s = await startStack({ routeTable: table });
    stacks.push(s);
    const older = await RawClient.connect('tcp', s.gw.tcpPort);
    await older.handshake(s.keys.clientKey, s.keys.pins);
    older.sendAuth(await s.token(7)); // its set() answers in 300 ms
    await new Promise((r) => setTimeout(r, 50));
    const newer = await loggedIn(s, 'ws', 7); // kicks the older one while it waits
    assert.equal(await older.expectLogout(), Code.ConflictingLogin);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await table.get(routeKey(GATE_SERVICE_NAME, '', 7n)), '127.0.0.1:19100');
    newer.close();
    await newer.ending;
    for (let i = 0; i < 100 && (await table.get(routeKey(GATE_SERVICE_NAME, '', 7n))) !== null; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await table.get(routeKey(GATE_SERVICE_NAME, '', 7n)), null, 'released when the last connection leaves');
  });
});

describe('half-closed tunnels', () => {
  it('cancels a stream whose backend ignores the half-close', async () => {
    const server = new grpc.Server();
    const calls: grpc.ServerDuplexStream<unknown, unknown>[] = [];
    let cancelled = 0;
    server.addService(tunnelServiceDefinition('/player.intra.v1.TunnelService/Tunnel') as unknown as grpc.ServiceDefinition, {
      Tunnel: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        calls.push(call);
        call.on('cancelled', () => cancelled++);
        call.on('end', () => {}); // ignores the half-close: never ends its side
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    after(() => server.forceShutdown());
    const instances = [{ id: 'deaf', endpoints: [`grpc://127.0.0.1:${port}`] }];
    const s = await startStack({
      config: { discovery: { static: { 'roma.player.service': instances } }, timeouts: { tunnelHalfCloseMs: 200, shutdownMs: 2000, tunnelConnectMs: 1000 } },
    });
    stacks.push(s);
    const c = await loggedIn(s, 'tcp', 8);
    assert.equal(calls.length, 1);
    c.close();
    for (let i = 0; i < 200 && cancelled === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cancelled, 1, 'the gateway cancelled the stream after tunnelHalfCloseMs');
  });
});
