import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { loadConfigFile, parseConfig } from '../src/config.js';
import { Router } from '../src/router.js';

const badKey = (key: string) => (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && e.message.includes(key);

describe('config', () => {
  it('fills every default from PROTOCOL.md', () => {
    const c = parseConfig({});
    assert.equal(c.listen.tcp.port, 17001);
    assert.equal(c.listen.ws.port, 17002);
    assert.equal(c.listen.ws.path, '/ws');
    assert.equal(c.listen.grpc.host, '127.0.0.1');
    assert.equal(c.limits.maxFrameBytes, 65536);
    assert.equal(c.limits.maxInflateBytes, 1048576);
    assert.equal(c.limits.compressThreshold, 4096);
    assert.equal(c.timeouts.handshakeMs, 5000);
    assert.equal(c.timeouts.handshakeSkewS, 300);
    assert.equal(c.timeouts.idleMs, 60000);
    assert.equal(c.routeTable.ttlS, 600);
    assert.ok(Object.isFrozen(c.limits));
  });

  it('binds the client ports of a plaintext gateway to 127.0.0.1 unless configured otherwise', () => {
    const c = parseConfig({ encrypted: false });
    assert.equal(c.listen.tcp.host, '127.0.0.1');
    assert.equal(c.listen.ws.host, '127.0.0.1');
    const d = parseConfig({ encrypted: false, listen: { tcp: { host: '0.0.0.0', port: 1 }, ws: { port: 2 } } });
    assert.equal(d.listen.tcp.host, '0.0.0.0');
    assert.equal(d.listen.ws.host, '127.0.0.1');
    assert.equal(d.listen.ws.port, 2);
    assert.equal(parseConfig({}).listen.tcp.host, '0.0.0.0');
  });

  it('names the bad key', () => {
    assert.throws(() => parseConfig({ limits: { maxFrameBytes: 32 * 1024 * 1024 } }), badKey('limits.maxFrameBytes'));
    assert.throws(() => parseConfig({ limits: { maxFrameBytes: 'big' } }), badKey('limits.maxFrameBytes'));
    // Above Node's largest Buffer zlib refuses every call (the zlib pool's fuzz finding).
    assert.throws(() => parseConfig({ limits: { maxInflateBytes: 8 * 1024 * 1024 * 1024 } }), badKey('limits.maxInflateBytes'));
  });

  it('keeps sendQueueBytes at least maxFrameBytes: refused when given smaller, raised with it by default', () => {
    assert.throws(() => parseConfig({ limits: { maxFrameBytes: 16 * 1024 * 1024, sendQueueBytes: 4 * 1024 * 1024 } }), badKey('limits.sendQueueBytes'));
    assert.throws(() => parseConfig({ limits: { sendQueueBytes: 32 * 1024 } }), badKey('limits.sendQueueBytes'), 'below the default frame limit');
    assert.equal(parseConfig({ limits: { maxFrameBytes: 16 * 1024 * 1024 } }).limits.sendQueueBytes, 16 * 1024 * 1024);
    assert.equal(parseConfig({ limits: { maxFrameBytes: 1024 * 1024 } }).limits.sendQueueBytes, 4 * 1024 * 1024);
    assert.equal(parseConfig({ limits: { maxFrameBytes: 65536, sendQueueBytes: 65536 } }).limits.sendQueueBytes, 65536);
    assert.equal(parseConfig({}).limits.sendQueueBytes, 4 * 1024 * 1024);
    assert.throws(() => parseConfig({ listen: { tcp: { prot: 1 } } }), badKey('listen.tcp'));
    assert.throws(() => parseConfig({ unknownKey: 1 }), badKey('(root)'));
    assert.throws(() => parseConfig({ timeouts: { idleMs: 1000 } }), badKey('timeouts.idleMs'));
    assert.throws(() => parseConfig({ modules: { '3': { name: 'p', service: 'nope' } } }), badKey('modules.3.service'));
    assert.throws(() => parseConfig({ modules: { '1': { name: 's', service: 'player' } } }), badKey('modules.1'));
    assert.throws(() => parseConfig({ routes: [{ mod: 3, seq: 1, service: 'nope' }] }), badKey('routes.0.service'));
    assert.throws(
      () => parseConfig({ discovery: { static: { x: [{ id: 'a', endpoints: ['grpc://h'] }] } } }),
      badKey('discovery.static.x.0.endpoints.0'),
    );
    assert.throws(
      () => parseConfig({ discovery: { static: { x: [{ id: 'a', endpoints: ['http://h:1'] }] } } }),
      badKey('discovery.static.x.0.endpoints'),
      'an instance needs a grpc endpoint',
    );
  });

  it('validates discovery.etcd, fills its defaults, and refuses it beside discovery.static', () => {
    const etcd = parseConfig({ discovery: { etcd: { endpoints: ['http://127.0.0.1:2379'] } } }).discovery.etcd;
    assert.deepEqual(etcd, {
      endpoints: ['http://127.0.0.1:2379'],
      prefix: '/microservices',
      leaseTtlS: 15,
      dialTimeoutMs: 3000,
      requestTimeoutMs: 5000,
      backoffMinMs: 250,
      backoffMaxMs: 10000,
      startWaitMs: 5000,
      register: true,
    });
    assert.equal(parseConfig({}).discovery.etcd, undefined, 'off unless configured');
    assert.throws(() => parseConfig({ discovery: { etcd: { endpoints: [] } } }), badKey('discovery.etcd.endpoints'));
    assert.throws(() => parseConfig({ discovery: { etcd: { endpoints: ['127.0.0.1:2379'] } } }), badKey('discovery.etcd.endpoints.0'));
    assert.throws(() => parseConfig({ discovery: { etcd: { endpoints: ['http://e:2379'], prefix: '/m/' } } }), badKey('discovery.etcd.prefix'));
    assert.throws(() => parseConfig({ discovery: { etcd: { endpoints: ['http://e:2379'], leaseTtlS: 1 } } }), badKey('discovery.etcd.leaseTtlS'));
    assert.throws(() => parseConfig({ discovery: { etcd: { endpoints: ['http://e:2379'], nope: 1 } } }), badKey('discovery.etcd'));
    assert.throws(
      () => parseConfig({ discovery: { etcd: { endpoints: ['http://e:2379'], backoffMinMs: 500, backoffMaxMs: 100 } } }),
      badKey('discovery.etcd.backoffMaxMs'),
    );
    assert.throws(
      () => parseConfig({ discovery: { etcd: { endpoints: ['http://e:2379'] }, static: { x: [{ id: 'a', endpoints: ['grpc://h:1'] }] } } }),
      badKey('discovery.static'),
    );
  });

  it('validates routeTable.redis and push: defaults, standalone vs cluster, the bad key named', () => {
    const c = parseConfig({ routeTable: { redis: { nodes: ['127.0.0.1:6379'] } } });
    assert.deepEqual(
      { ...c.routeTable.redis },
      { nodes: ['127.0.0.1:6379'], cluster: false, db: 0, commandTimeoutMs: 1000, connectTimeoutMs: 3000, reconnectMinMs: 100, reconnectMaxMs: 5000 },
    );
    assert.equal(c.routeTable.ownerClaimTtlS, 15);
    assert.equal(c.push.broadcastChannel, 'gate.broadcast.message');
    assert.equal(parseConfig({}).routeTable.redis, undefined, 'no Redis unless configured');
    assert.equal(parseConfig({ routeTable: { redis: { nodes: ['a:1', 'b:2', '[::1]:3'], cluster: true } } }).routeTable.redis?.nodes.length, 3);
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: ['a:1', 'b:2'] } } }), badKey('routeTable.redis.nodes'));
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: ['a:1'], cluster: true, db: 2 } } }), badKey('routeTable.redis.db'));
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: ['localhost'] } } }), badKey('routeTable.redis.nodes.0'));
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: ['h:70000'] } } }), badKey('routeTable.redis.nodes.0'));
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: [] } } }), badKey('routeTable.redis.nodes'));
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: ['h:1'], reconnectMinMs: 500, reconnectMaxMs: 100 } } }), badKey('routeTable.redis.reconnectMaxMs'));
    assert.throws(() => parseConfig({ routeTable: { redis: { nodes: ['h:1'], url: 'redis://h' } } }), badKey('routeTable.redis'));
    assert.throws(() => parseConfig({ routeTable: { ownerClaimTtlS: 1 } }), badKey('routeTable.ownerClaimTtlS'));
    assert.throws(() => parseConfig({ push: { broadcastChannel: '' } }), badKey('push.broadcastChannel'));
  });

  it('takes the Redis password from JANUS_REDIS_PASSWORD', () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    try {
      const file = join(dir, 'g.yaml');
      writeFileSync(file, 'routeTable:\n  redis:\n    nodes: ["127.0.0.1:6379"]\n    password: in-file\n');
      assert.equal(loadConfigFile(file, { JANUS_REDIS_PASSWORD: 'from-env' }).routeTable.redis?.password, 'from-env');
      assert.equal(loadConfigFile(file, {}).routeTable.redis?.password, 'in-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads YAML, resolves key paths against the file, applies environment overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    try {
      const file = join(dir, 'g.yaml');
      writeFileSync(file, 'keys:\n  dir: keys\n  tokenKeys: [t.key]\nlog: { level: warn }\n');
      const c = loadConfigFile(file, {});
      assert.equal(c.keys.dir, join(dir, 'keys'));
      assert.deepEqual(c.keys.tokenKeys, [join(dir, 't.key')]);
      assert.equal(c.log.level, 'warn');
      const e = loadConfigFile(file, { JANUS_KEYS_DIR: '/k', JANUS_LOG_LEVEL: 'debug' });
      assert.equal(e.keys.dir, '/k');
      assert.equal(e.log.level, 'debug');
      writeFileSync(file, 'limits: [oops');
      assert.throws(() => loadConfigFile(file, {}), badKey('not valid YAML'));
      assert.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), badKey('cannot read config file'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('config: tracing', () => {
  it('is off by default, with OTLP http/protobuf to a local collector', () => {
    const t = parseConfig({}).tracing;
    assert.equal(t.enabled, false);
    assert.equal(t.serviceName, 'janus-gateway');
    assert.equal(t.sampleRatio, 1);
    assert.equal(t.maxOpenSpansPerConnection, 256);
    assert.deepEqual(t.otlp, { endpoint: 'http://127.0.0.1:4318/v1/traces', protocol: 'http/protobuf', headers: {}, timeoutMs: 10000 });
    assert.ok(Object.isFrozen(t.otlp.headers));
  });

  it('names the bad tracing key', () => {
    assert.throws(() => parseConfig({ tracing: { enabled: 'yes' } }), badKey('tracing.enabled'));
    assert.throws(() => parseConfig({ tracing: { sampleRatio: 1.5 } }), badKey('tracing.sampleRatio'));
    assert.throws(() => parseConfig({ tracing: { maxOpenSpansPerConnection: 0 } }), badKey('tracing.maxOpenSpansPerConnection'));
    assert.throws(() => parseConfig({ tracing: { otlp: { endpoint: 'collector:4318' } } }), badKey('tracing.otlp.endpoint: must be an http:// or https:// URL'));
    assert.throws(() => parseConfig({ tracing: { otlp: { endpoint: 'grpc://collector:4317' } } }), badKey('tracing.otlp.endpoint'));
    assert.throws(() => parseConfig({ tracing: { otlp: { protocol: 'grpc' } } }), badKey('tracing.otlp.protocol'));
    assert.throws(() => parseConfig({ tracing: { otlp: { headers: { a: 1 } } } }), badKey('tracing.otlp.headers.a'));
    assert.throws(() => parseConfig({ tracing: { exporter: 'jaeger' } }), badKey('tracing'));
  });

  it('takes the OTLP headers from JANUS_OTLP_HEADERS, naming the variable when malformed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    try {
      const file = join(dir, 'g.yaml');
      writeFileSync(file, 'tracing:\n  enabled: true\n  otlp: { headers: { x-file: f } }\n');
      assert.deepEqual(loadConfigFile(file, {}).tracing.otlp.headers, { 'x-file': 'f' });
      const c = loadConfigFile(file, { JANUS_OTLP_HEADERS: 'authorization=Bearer abc=, x-team = games ' });
      assert.deepEqual(c.tracing.otlp.headers, { authorization: 'Bearer abc=', 'x-team': 'games' });
      assert.equal(c.tracing.enabled, true, 'the rest of tracing stays');
      assert.throws(() => loadConfigFile(file, { JANUS_OTLP_HEADERS: 'novalue' }), badKey('JANUS_OTLP_HEADERS'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('router', () => {
  it('routes by the default module table (Room -> room, every other -> player) and (mod, seq) overrides', () => {
    const c = parseConfig({
      services: {
        player: { path: '/p.S/T', discoveryName: 'p' },
        room: { path: '/r.S/T', discoveryName: 'r' },
        chat: { path: '/c.S/T', discoveryName: 'c' },
      },
      routes: [{ mod: 7, seq: 3, service: 'chat' }],
    });
    const r = new Router(c);
    assert.equal(r.route(3, 1)?.name, 'player');
    assert.equal(r.route(4, 1)?.name, 'room');
    for (const mod of [2, 5, 6, 7, 8, 9, 10, 11]) assert.equal(r.route(mod, 1)?.name, 'player', `mod ${mod}`);
    assert.equal(r.route(7, 3)?.name, 'chat');
    assert.equal(r.route(1, 2), undefined);
    assert.equal(r.route(12, 1), undefined);
    assert.equal(r.player.isPlayer, true);
  });
});
