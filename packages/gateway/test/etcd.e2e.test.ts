/**
 * A gateway on etcd discovery (PROTOCOL.md 10), end to end on a real etcd process, with
 * backends registered through the backend SDK: the gateway's own registration, a killed
 * backend whose lease expires, etcd killed and restarted under open sessions, and color
 * isolation.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { GATE_DISCOVERY_NAME, SCServerLogout_Code } from '@janus/protocol';
import { MemoryRouteTable, routeKey } from '../src/index.js';
import { until } from './support/discovery-contract.js';
import { spawnRegisteredBackend, startRegisteredBackend, type RegisterAs } from './support/etcd-backend.js';
import { etcdPerFile } from './support/etcd-server.js';
import { BlackholeProxy } from './support/blackhole-proxy.js';
import { RawClient } from './support/raw-client.js';
import { loggedIn, str, text } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

const PLAYER = 'roma.player.service';
const etcd = etcdPerFile();

/** A gateway on etcd under a prefix of its own, with a route table the test can read. */
async function etcdStack(prefix: string, extra: Record<string, unknown> = {}): Promise<{ stack: Stack; routes: MemoryRouteTable }> {
  const routes = new MemoryRouteTable();
  const stack = await startStack({
    noBackend: true,
    routeTable: routes,
    config: { discovery: { etcd: { endpoints: [etcd.server.endpoint], prefix, leaseTtlS: 2, backoffMinMs: 50, backoffMaxMs: 500, dialTimeoutMs: 500, requestTimeoutMs: 1000, ...extra } } },
  });
  return { stack, routes };
}

const as = (prefix: string, id: string, color = '', leaseTtlS = 15): RegisterAs => ({ endpoint: etcd.server.endpoint, prefix, name: PLAYER, id, color, leaseTtlS });

/** Sends a Player Echo and checks the reply. */
async function echo(c: RawClient, s: string): Promise<void> {
  const req = c.send({ mod: 3, seq: 1, data: text(s) });
  const reply = await c.nextPacket();
  assert.deepEqual([reply?.mod, reply?.seq, reply?.index, str(reply?.data)], [3, 1, req.index, s]);
}

describe('gateway on etcd', { timeout: 60_000 }, () => {
  it('registers itself as janus.gate.interface with its gRPC and management HTTP endpoints, and deregisters on close', async () => {
    const prefix = etcd.prefix('e2e');
    const { stack } = await etcdStack(prefix);
    const key = `${prefix}/${GATE_DISCOVERY_NAME}/${stack.gw.config.gateway.id}`;
    let stopped = false;
    try {
      const seen = await etcd.present(key);
      const mgmt = stack.gw.management!;
      assert.deepEqual(JSON.parse(seen), { id: 'janus-1', name: GATE_DISCOVERY_NAME, version: '', metadata: {}, endpoints: [`grpc://127.0.0.1:${stack.gw.grpcPort}`, `http://127.0.0.1:${mgmt.port}`] });
      await stack.stop();
      stopped = true;
      assert.equal(await etcd.raw.get(key).string(), null, 'gone at once, not after the lease TTL');
    } finally {
      if (!stopped) await stack.stop();
    }
  });

  it('a killed backend: its lease expires, it leaves discovery, and new logins (and its old users) route to the survivor', async () => {
    const prefix = etcd.prefix('e2e');
    const survivor = await startRegisteredBackend(as(prefix, 'survivor'));
    const doomed = await spawnRegisteredBackend(as(prefix, 'doomed', '', 2));
    const { stack, routes } = await etcdStack(prefix);
    const clients: RawClient[] = [];
    try {
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 2);
      // Two logins: smooth weighted round robin over equal weights puts one on each.
      const byUid = new Map<number, string>();
      for (const uid of [101, 102]) {
        const c = await loggedIn(stack, 'tcp', uid);
        clients.push(c);
        byUid.set(uid, (await routes.get(routeKey(PLAYER, '', BigInt(uid))))!);
      }
      assert.deepEqual(new Set(byUid.values()), new Set([survivor.address, doomed.address]));
      const doomedUid = [...byUid].find(([, a]) => a === doomed.address)![0];
      const survivorUid = [...byUid].find(([, a]) => a === survivor.address)![0];
      const onSurvivor = clients[survivorUid === 101 ? 0 : 1]!;
      const onDoomed = clients[doomedUid === 101 ? 0 : 1]!;

      await doomed.kill();
      // Its player tunnel broke: that session ends with Waiting; the other one is untouched.
      assert.equal(await onDoomed.expectLogout(), SCServerLogout_Code.Waiting);
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 1 && l[0]!.id === 'survivor');
      await echo(onSurvivor, 'still here');

      for (const uid of [201, 202, 203]) {
        const c = await loggedIn(stack, 'tcp', uid);
        clients.push(c);
        assert.equal(await routes.get(routeKey(PLAYER, '', BigInt(uid))), survivor.address, `uid ${uid} routes to the survivor`);
        await echo(c, `hi ${uid}`);
      }
      const back = await loggedIn(stack, 'ws', doomedUid);
      clients.push(back);
      assert.equal(await routes.get(routeKey(PLAYER, '', BigInt(doomedUid))), survivor.address, 'the sticky entry of the dead instance was replaced');
      await echo(back, 'moved');
    } finally {
      for (const c of clients) c.close();
      await stack.stop();
      await doomed.kill();
      await survivor.stop();
    }
  });

  it('weights from metadata.weight: logins spread 3:1 over instances of weight 300 and 100', async () => {
    const prefix = etcd.prefix('e2e');
    const heavy = await startRegisteredBackend({ ...as(prefix, 'heavy'), weight: 300 });
    const light = await startRegisteredBackend(as(prefix, 'light'));
    const { stack, routes } = await etcdStack(prefix);
    const clients: RawClient[] = [];
    try {
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 2);
      assert.deepEqual(stack.gw.discovery.instances(PLAYER).map((i) => [i.id, i.weight]), [['heavy', 300], ['light', 100]]);
      const counts = new Map<string, number>();
      for (let uid = 501; uid <= 508; uid++) {
        clients.push(await loggedIn(stack, 'tcp', uid));
        const a = (await routes.get(routeKey(PLAYER, '', BigInt(uid))))!;
        counts.set(a, (counts.get(a) ?? 0) + 1);
      }
      assert.deepEqual([counts.get(heavy.address), counts.get(light.address)], [6, 2]);
    } finally {
      for (const c of clients) c.close();
      await stack.stop();
      await heavy.stop();
      await light.stop();
    }
  });

  it('a deregistered instance gets no new routes, while its open sessions run on until it ends them', async () => {
    const prefix = etcd.prefix('e2e');
    const leaving = await startRegisteredBackend(as(prefix, 'leaving'));
    const staying = await startRegisteredBackend(as(prefix, 'staying'));
    const { stack, routes } = await etcdStack(prefix);
    const clients: RawClient[] = [];
    try {
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 2);
      let onLeaving: RawClient | null = null;
      for (const uid of [601, 602]) {
        const c = await loggedIn(stack, 'tcp', uid);
        clients.push(c);
        if ((await routes.get(routeKey(PLAYER, '', BigInt(uid)))) === leaving.address) onLeaving = c;
      }
      assert.ok(onLeaving, 'one of two logins went to each instance');
      await leaving.reg.close();
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 1 && l[0]!.id === 'staying');
      await echo(onLeaving, 'draining');
      for (const uid of [603, 604, 605]) {
        clients.push(await loggedIn(stack, 'ws', uid));
        assert.equal(await routes.get(routeKey(PLAYER, '', BigInt(uid))), staying.address, `uid ${uid}`);
      }
      assert.equal(leaving.backend.streamCount, 1, 'only the session it already had');
      await echo(onLeaving, 'still draining');
      // The instance ends its streams: that session ends like any whose player backend went away.
      await leaving.backend.close();
      assert.equal(await onLeaving.expectLogout(), SCServerLogout_Code.Waiting);
    } finally {
      for (const c of clients) c.close();
      await stack.stop();
      await leaving.stop();
      await staying.stop();
    }
  });

  it('etcd killed and restarted: open sessions keep working, logins route on the cached list, and the gateway recovers by itself', async () => {
    const prefix = etcd.prefix('e2e');
    const first = await startRegisteredBackend(as(prefix, 'first'));
    const { stack, routes } = await etcdStack(prefix);
    const clients: RawClient[] = [];
    let second: Awaited<ReturnType<typeof startRegisteredBackend>> | null = null;
    try {
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 1);
      const open = await loggedIn(stack, 'tcp', 301);
      clients.push(open);
      let dropped = false;
      void open.ending.then(() => (dropped = true));

      await etcd.server.kill();
      await echo(open, 'etcd is down');
      const during = await loggedIn(stack, 'ws', 302);
      clients.push(during);
      assert.equal(await routes.get(routeKey(PLAYER, '', 302n)), first.address, 'routed on the cached instance list');
      await echo(during, 'logged in while etcd was down');

      await etcd.server.restart();
      // Recovered: a backend registered after the restart is discovered without touching the gateway.
      second = await startRegisteredBackend(as(prefix, 'second'));
      await until(stack.gw.discovery, PLAYER, (l) => l.map((i) => i.id).join() === 'first,second');
      const gateKey = `${prefix}/${GATE_DISCOVERY_NAME}/${stack.gw.config.gateway.id}`;
      assert.notEqual(await etcd.raw.get(gateKey).string(), null, 'the gateway is still registered');
      await echo(open, 'etcd is back');
      await echo(during, 'etcd is back');
      assert.equal(dropped, false, 'no open session was dropped');
    } finally {
      for (const c of clients) c.close();
      await stack.stop();
      await second?.stop();
      await first.stop();
    }
  });

  it('etcd that vanished without a reset (packets dropped): logins go on on the cached list and shutdown does not hang; the key then expires', async () => {
    const prefix = etcd.prefix('e2e');
    const backend = await startRegisteredBackend(as(prefix, 'only'));
    const proxy = await BlackholeProxy.start(Number(new URL(etcd.server.endpoint).port));
    const routes = new MemoryRouteTable();
    const stack = await startStack({
      noBackend: true,
      routeTable: routes,
      config: { discovery: { etcd: { endpoints: [`http://127.0.0.1:${proxy.port}`], prefix, leaseTtlS: 2, requestTimeoutMs: 500, dialTimeoutMs: 500, backoffMinMs: 50, backoffMaxMs: 200 } } },
    });
    const clients: RawClient[] = [];
    let stopped = false;
    try {
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 1);
      const gateKey = `${prefix}/${GATE_DISCOVERY_NAME}/${stack.gw.config.gateway.id}`;
      await etcd.present(gateKey);
      proxy.freeze();
      for (const uid of [701, 702]) {
        const c = await loggedIn(stack, 'tcp', uid);
        clients.push(c);
        await echo(c, 'etcd is unreachable');
        assert.equal(await routes.get(routeKey(PLAYER, '', BigInt(uid))), backend.address);
      }
      for (const c of clients) c.close();
      // The lease revoke cannot get through: close() gives up after requestTimeoutMs.
      await stack.stop();
      stopped = true;
      assert.ok(proxy.dropped > 0, 'the gateway did try to reach etcd');
      await etcd.gone(gateKey);
    } finally {
      for (const c of clients) c.close();
      if (!stopped) await stack.stop();
      proxy.close();
      await backend.stop();
    }
  });

  it('color isolation: a blue client only ever reaches the blue instance, green the green one, and a color with no instance is refused', async () => {
    const prefix = etcd.prefix('e2e');
    const blue = await startRegisteredBackend(as(prefix, 'blue-1', 'blue'));
    const green = await startRegisteredBackend(as(prefix, 'green-1', 'green'));
    const { stack, routes } = await etcdStack(prefix);
    const clients: RawClient[] = [];
    try {
      await until(stack.gw.discovery, PLAYER, (l) => l.length === 2);
      for (let uid = 401; uid <= 406; uid++) {
        const color = uid % 2 === 0 ? 'blue' : 'green';
        const c = await loggedIn(stack, 'tcp', uid, { color });
        clients.push(c);
        await echo(c, color);
        assert.equal(await routes.get(routeKey(PLAYER, color, BigInt(uid))), color === 'blue' ? blue.address : green.address, `uid ${uid} (${color})`);
      }
      assert.equal(blue.backend.streamCount, 3, 'the blue instance holds exactly the three blue sessions');
      assert.equal(green.backend.streamCount, 3);
      const red = await RawClient.connect('tcp', stack.gw.tcpPort);
      clients.push(red);
      await red.handshake(stack.keys.clientKey, stack.keys.pins);
      red.sendAuth(await stack.token(499, { color: 'red' }));
      assert.equal(await red.expectLogout(), SCServerLogout_Code.Waiting, 'no red instance: the login is refused');
    } finally {
      for (const c of clients) c.close();
      await stack.stop();
      await blue.stop();
      await green.stop();
    }
  });
});
