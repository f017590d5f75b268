/**
 * Unit tests of the reload plan (reload.ts): which changed keys apply now, which need a
 * restart, the config built from both, and the key ring diff.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseTokenKey } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { parseConfig, planReload, type GatewayConfigInput, type KeyRing } from '../src/index.js';
import { changedKeys, isReloadable, keyRingChanges } from '../src/reload.js';

const base: GatewayConfigInput = { listen: { tcp: { port: 0 } }, limits: { maxConnections: 10 } };
const cfg = (over: GatewayConfigInput = {}) => parseConfig({ ...base, ...over });

describe('planReload', () => {
  it('applies reloadable keys, keeps restart-only ones at their running values, and freezes the result', () => {
    const running = cfg();
    const next = cfg({
      listen: { tcp: { port: 17005 }, ws: { port: 17006, path: '/game' } },
      limits: { maxConnections: 20, maxFrameBytes: 4096, zlibConcurrency: 2 },
      timeouts: { idleMs: 90000, tunnelConnectMs: 500 },
      gateway: { id: 'janus-2' },
      tunnel: { channelsPerInstance: 4 },
      routeTable: { ttlS: 60 },
      encrypted: true,
      log: { level: 'debug' },
    });
    const plan = planReload(running, next);
    assert.deepEqual(plan.applied, ['limits.maxConnections', 'log.level', 'timeouts.idleMs']);
    assert.deepEqual(plan.restartRequired, [
      'gateway.id',
      'limits.maxFrameBytes',
      'limits.zlibConcurrency',
      'listen.tcp.port',
      'listen.ws.path',
      'listen.ws.port',
      'routeTable.ttlS',
      'timeouts.tunnelConnectMs',
      'tunnel.channelsPerInstance',
    ]);
    const e = plan.effective;
    assert.deepEqual([e.limits.maxConnections, e.log.level, e.timeouts.idleMs], [20, 'debug', 90000]);
    assert.deepEqual(
      [e.listen.tcp.port, e.listen.ws.port, e.listen.ws.path, e.limits.maxFrameBytes, e.limits.zlibConcurrency, e.gateway.id, e.tunnel.channelsPerInstance, e.routeTable.ttlS, e.timeouts.tunnelConnectMs],
      [0, 17002, '/ws', 65536, 4, 'janus-1', 2, 600, 3000],
    );
    assert.ok(Object.isFrozen(e) && Object.isFrozen(e.limits) && Object.isFrozen(e.discovery.static));
    const again = planReload(e, e);
    assert.deepEqual([again.applied, again.restartRequired], [[], []]);
  });

  it('names modules, routes, services and static instances by their keys (discovery names with dots kept whole)', () => {
    const inst = (port: number) => [{ id: `i${port}`, endpoints: [`grpc://127.0.0.1:${port}`] }];
    const running = cfg({ discovery: { static: { 'roma.player.service': inst(1) } } });
    const next = cfg({
      discovery: { static: { 'roma.player.service': inst(1), 'roma.room.service': inst(2) } },
      modules: { '3': { name: 'player', service: 'player' }, '4': { name: 'room', service: 'room' } },
      routes: [{ mod: 3, seq: 9, service: 'room' }],
      services: { player: { path: '/a.B/Tunnel', discoveryName: 'roma.player.service' }, room: { path: '/c.D/Tunnel', discoveryName: 'roma.room.service' } },
    });
    const plan = planReload(running, next);
    assert.deepEqual(plan.restartRequired, []);
    assert.ok(plan.applied.includes('discovery.static.roma.room.service'), plan.applied.join());
    assert.ok(plan.applied.includes('modules.2'), 'a module that went is a change');
    assert.ok(plan.applied.includes('routes'));
    assert.ok(plan.applied.includes('services.player.path'));
    assert.ok(plan.applied.includes('services.room.path'));
    assert.equal(plan.effective.modules['2'], undefined);
    assert.equal(plan.effective.discovery.static['roma.room.service']?.[0]?.id, 'i2');
  });

  it('treats listen.ws.tls as reloadable only while TLS stays on', () => {
    const on = (certFile: string) => cfg({ listen: { tcp: { port: 0 }, ws: { tls: { certFile, keyFile: '/k.pem' } } } });
    assert.deepEqual(planReload(on('/a.pem'), on('/b.pem')).applied, ['listen.ws.tls.certFile']);
    const turnOff = planReload(on('/a.pem'), cfg());
    assert.deepEqual([turnOff.applied, turnOff.restartRequired], [[], ['listen.ws.tls']]);
    assert.equal(turnOff.effective.listen.ws.tls?.certFile, '/a.pem');
    const turnOn = planReload(cfg(), on('/a.pem'));
    assert.deepEqual(turnOn.restartRequired, ['listen.ws.tls']);
    assert.equal(turnOn.effective.listen.ws.tls, undefined);
  });

  it('needs a restart for a key no rule lists (a section added later is safe by default)', () => {
    assert.equal(isReloadable(['management', 'port']), false);
    assert.equal(isReloadable(['log', 'repeatIntervalMs']), false);
    assert.equal(isReloadable(['log', 'level']), true);
    assert.equal(isReloadable(['limits', 'maxFrameBytes']), false);
    assert.equal(isReloadable(['limits', 'messageBurst']), true);
    assert.equal(isReloadable(['discovery', 'etcd', 'endpoints']), false);
    assert.equal(isReloadable(['discovery', 'static', 'x']), true);
  });

  it('changedKeys treats arrays as leaves and sees keys present on one side only', () => {
    assert.deepEqual(changedKeys({ a: { b: [1, 2], c: 1 } }, { a: { b: [1, 3], c: 1, d: 2 } }), [['a', 'b'], ['a', 'd']]);
    assert.deepEqual(changedKeys({ a: 1 }, { a: 1 }), []);
  });
});

describe('keyRingChanges', () => {
  it('reports versions added, removed and replaced, and token keys by count, from the key objects', () => {
    const pair = () => {
      const { publicKey, privateKey } = edKeyPair();
      return { sign: nodeCrypto.importSigningKey(privateKey), verify: nodeCrypto.importVerifyKey(publicKey), pem: { publicKey, privateKey } };
    };
    const a = pair();
    const b = pair();
    const tokenA = parseTokenKey(Buffer.alloc(32, 1).toString('base64'));
    const tokenB = parseTokenKey(Buffer.alloc(32, 2).toString('base64'));
    const before: KeyRing = { serverKeys: new Map([[1, a.sign]]), clientKeys: new Map([[1, a.verify], [2, a.verify]]), tokenKeys: [tokenA] };
    const after: KeyRing = {
      // Version 1 re-read from the same PEM: equal keys, not "replaced".
      serverKeys: new Map([[1, nodeCrypto.importSigningKey(a.pem.privateKey)], [2, b.sign]]),
      clientKeys: new Map([[2, b.verify], [3, b.verify]]),
      tokenKeys: [tokenB, Uint8Array.from(tokenA)],
    };
    assert.deepEqual(keyRingChanges(before, after), {
      serverKeys: { versions: [1, 2], added: [2], removed: [], replaced: [] },
      clientKeys: { versions: [2, 3], added: [3], removed: [1], replaced: [2] },
      tokenKeys: { count: 2, added: 1, removed: 0 },
    });
  });
});

function edKeyPair(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
}
