/**
 * The handshake and memory benches' pieces: option parsing, and the session gateway child's
 * IPC calls against a real gateway and demo backend (both children stopped by the test).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import type { BenchChild } from '../src/child.js';
import { connectClients, closeClients } from '../src/clients.js';
import { makeBenchKeys, type BenchKeys } from '../src/keys.js';
import { intOption, parseOptions, startBackend, startSessionGateway } from '../src/session-bench.js';
import type { MemorySample, PrimitiveCosts } from '../src/session-ipc.js';
import type { JanusClient } from '@janus/client';

describe('parseOptions and intOption', () => {
  it('reads values and flags, and names a bad option', () => {
    const o = parseOptions(['--sessions', '10', '--verbose'], ['sessions'], ['verbose']);
    assert.equal(intOption(o, 'sessions', 5), 10);
    assert.equal(intOption(o, 'echo', 7), 7);
    assert.equal(o.get('verbose'), 'true');
    assert.throws(() => parseOptions(['--nope', '1'], ['sessions']), (e) => isJanusError(e, ErrorCode.ArgInvalid) && e.message.includes('--nope'));
    assert.throws(() => parseOptions(['--sessions'], ['sessions']), (e) => isJanusError(e, ErrorCode.ArgInvalid));
    assert.throws(() => intOption(parseOptions(['--sessions', '0'], ['sessions']), 'sessions', 1), (e) => isJanusError(e, ErrorCode.ArgInvalid));
  });
});

describe('session gateway child', () => {
  let keys: BenchKeys;
  const children: BenchChild[] = [];
  let gateway: BenchChild;

  before(async () => {
    keys = await makeBenchKeys();
    const backend = await startBackend(() => {});
    children.push(backend);
    gateway = await startSessionGateway({ keysDir: keys.dir, backendPort: backend.ports.grpc!, execArgv: ['--expose-gc'], log: () => {} });
    children.push(gateway);
  });

  after(async () => {
    for (const c of children.reverse()) await c.stop(15000);
    keys.remove();
  });

  it('times the primitives and reports memory and sessions after a GC', async () => {
    const p = await gateway.call<PrimitiveCosts>('primitives', 20);
    assert.ok(p.ed25519Verify > 0 && p.sum >= p.ed25519Verify, JSON.stringify(p));
    const clients: JanusClient[] = [];
    await connectClients({ transport: 'tcp', host: '127.0.0.1', port: gateway.ports.tcp!, keys, connections: 3, setupConcurrency: 3, into: clients, uidOffset: 100 });
    assert.equal(clients.length, 3);
    const m = await gateway.call<MemorySample>('memory');
    assert.equal(m.gc, true);
    assert.equal(m.sessions, 3);
    assert.ok(m.rss > 0 && m.heapUsed > 0);
    await closeClients(clients, 3);
  });

  it('rejects a call the child does not have', async () => {
    await assert.rejects(gateway.call('nope'), /no call named nope/);
  });
});
