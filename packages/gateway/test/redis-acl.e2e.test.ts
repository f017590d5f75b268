/**
 * The Redis ACL user of docs/deployment.md ("Running Redis"), read from that page, on a real
 * redis-server: two gateways logged in as that user start (address claims, subscriptions),
 * log users in (gateway and player table writes), renew the sessions' entries and their
 * address claims (Lua EXPIRE), carry an HTTP multicast from one to the other (MGET,
 * PUBLISH) and stop cleanly (Lua DEL, UNSUBSCRIBE, QUIT), and Redis's ACL LOG holds no
 * denied command at the end. The same user on a Redis Cluster of three masters runs every
 * route table operation. The command list the page had before (GET, SET, EVAL/EVALSHA,
 * PUBLISH, SUBSCRIBE) fails a renewal.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, gateRouteKey, isJanusError, utf8 } from '@janus/protocol';
import { closeRedis, connectRedis, createRedisClient, RedisRouteTable, type RedisClient } from '@janus/redis';
import { ManualClock } from '../src/manual-clock.js';
import { mgmt } from './support/management.js';
import { RedisServer, startRedisCluster, type RedisCluster } from './support/redis-server.js';
import { loggedIn, str } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

const DEPLOYMENT_MD = join(dirname(fileURLToPath(import.meta.url)), '../../../../docs/deployment.md');
const PASSWORD = 'acl-test-password-0123456789';
const ADMIN_TOKEN = 'acl-admin-token-0123456789';

/** The page's `user janus ...` line, with the test's password, as redis-server arguments. */
function documentedUserArgs(): string[] {
  const line = readFileSync(DEPLOYMENT_MD, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('user janus '));
  assert.ok(line, 'docs/deployment.md has a "user janus ..." ACL line');
  return ['--user', ...line.split(' ').slice(1).map((w) => (w.startsWith('>') ? `>${PASSWORD}` : w))];
}

/** Redis's ACL LOG of `admin`'s server as [reason, object, username] triples. */
async function aclLog(admin: RedisClient): Promise<string[][]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries.map((e) => {
    const m = new Map<string, unknown>();
    for (let i = 0; i < e.length; i += 2) m.set(String(e[i]), e[i + 1]);
    return [String(m.get('reason')), String(m.get('object')), String(m.get('username'))];
  });
}

describe('the documented Redis ACL user', () => {
  let server: RedisServer;
  let admin: RedisClient;
  before(async () => {
    server = await RedisServer.start({ args: documentedUserArgs() });
    admin = createRedisClient({ nodes: [server.address], cluster: false }, 'acl-admin'); // the default user: everything
    await connectRedis(admin, 3000);
  });
  after(async () => {
    closeRedis(admin);
    await server.stop();
  });

  it('runs two gateways: claims, logins, renewals, an HTTP multicast across them and a clean stop, with nothing denied', { timeout: 30_000 }, async (t) => {
    const clock = new ManualClock();
    const redis = { nodes: [server.address], cluster: false, username: 'janus', password: PASSWORD, commandTimeoutMs: 1000 };
    const gateway = async (id: string): Promise<Stack> => {
      const s = await startStack({
        clock,
        config: {
          gateway: { id },
          routeTable: { ttlS: 10, ownerClaimTtlS: 3, redis },
          management: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN },
        },
      });
      let stopping: Promise<void> | null = null;
      const stop = (): Promise<void> => (stopping ??= s.stop());
      t.after(stop);
      return { ...s, stop };
    };
    const a = await gateway('acl-a');
    const b = await gateway('acl-b');
    const ca = await loggedIn(a, 'tcp', 5001);
    t.after(() => ca.close());
    const cb = await loggedIn(b, 'tcp', 5002);
    t.after(() => cb.close());
    const keys = [gateRouteKey('', 5001n), gateRouteKey('', 5002n), `janus.gate.owner_${a.gw.gateAddress}`, `janus.gate.owner_${b.gw.gateAddress}`];
    assert.deepEqual(
      (await admin.mget(...keys)).map((v) => v !== null),
      [true, true, true, true],
      'gateway table entries and address claims written as janus',
    );

    // Renewals: TTL/2 for the sessions' entries, ownerClaimTtlS/3 for the claims; each is a
    // Lua EXPIRE, which Redis reports as an `expire` keyspace event.
    await admin.config('SET', 'notify-keyspace-events', 'Eg');
    const watcher = createRedisClient({ nodes: [server.address], cluster: false }, 'acl-watch', { subscriber: true });
    t.after(() => closeRedis(watcher));
    await connectRedis(watcher, 3000);
    const renewed = new Set<string>();
    const allRenewed = new Promise<void>((resolve) => {
      watcher.on('message', (_ch: string, key: string) => {
        if (keys.includes(key)) renewed.add(key);
        if (renewed.size === keys.length) resolve();
      });
    });
    await watcher.subscribe('__keyevent@0__:expire');
    clock.advance(5_000);
    await allRenewed;

    // An HTTP multicast on A reaches 5001 here and 5002 on B (MGET, PUBLISH).
    const r = await mgmt(a, '/v1/push/multicast', {
      method: 'POST',
      token: ADMIN_TOKEN,
      body: JSON.stringify({ uids: ['5001', '5002'], bodies: [{ mod: 3, seq: 60, data: Buffer.from('acl').toString('base64') }] }),
    });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(((r.json() as { pushedUids: string[] }).pushedUids).sort(), ['5001', '5002']);
    for (const c of [ca, cb]) {
      const p = await c.nextPacket();
      assert.deepEqual([p?.mod, p?.seq, p?.index, str(p?.data)], [3, 60, 0, 'acl']);
    }
    const echo = ca.send({ mod: 3, seq: 1, data: utf8('still routed') });
    assert.equal((await ca.nextPacket())?.index, echo.index);

    ca.close();
    cb.close();
    await Promise.all([ca.ending, cb.ending]);
    await a.stop();
    await b.stop();
    assert.deepEqual(await admin.mget(...keys), [null, null, null, null], 'entries and claims deleted as janus (Lua DEL)');
    assert.deepEqual(await aclLog(admin), [], 'no command or key denied');
  });

  it('the command list the page had before (GET, SET, EVAL/EVALSHA, PUBLISH, SUBSCRIBE) cannot renew an entry', async (t) => {
    await admin.call('ACL', 'SETUSER', 'narrow', 'on', `>${PASSWORD}`, '~r_*', '&*', '-@all', '+get', '+set', '+eval', '+evalsha', '+publish', '+subscribe', '+info', '+client|setname'); // and the handshake's, to single out the renewal
    t.after(async () => {
      await admin.call('ACL', 'DELUSER', 'narrow');
      await admin.call('ACL', 'LOG', 'RESET');
    });
    const table = new RedisRouteTable(createRedisClient({ nodes: [server.address], cluster: false, username: 'narrow', password: PASSWORD }, 'acl-narrow'));
    t.after(() => table.close());
    await connectRedis(table.client, 3000);
    await table.set('r_acl.narrow__1', 'v', 60);
    await assert.rejects(table.renewIfEquals('r_acl.narrow__1', 'v', 60), (err) => isJanusError(err, ErrorCode.RouteTableUnavailable) && /can't run this command/.test((err as Error).message));
  });
});

describe('the documented Redis ACL user on a Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster({ args: documentedUserArgs() });
  });
  after(async () => {
    await cluster.stop();
  });

  it('runs every route table operation, with nothing denied on any node', async (t) => {
    const table = new RedisRouteTable(createRedisClient({ nodes: cluster.seeds, cluster: true, username: 'janus', password: PASSWORD }, 'acl-cluster'));
    t.after(() => table.close());
    await connectRedis(table.client, 10_000);
    const keys = Array.from({ length: 30 }, (_, i) => `r_acl.cluster_blue_${i}`);
    for (const k of keys) assert.equal(await table.setNX(k, 'a', 60), 'a');
    assert.deepEqual(await table.getMany(keys), keys.map(() => 'a'));
    assert.equal(await table.set(keys[0]!, 'b', 60), 'a');
    assert.equal(await table.renewIfEquals(keys[0]!, 'b', 60), true);
    assert.equal(await table.deleteIfEquals(keys[0]!, 'b'), true);
    assert.equal(await table.get(keys[0]!), null);
    for (const seed of cluster.seeds) {
      const admin = createRedisClient({ nodes: [seed], cluster: false }, 'acl-admin');
      t.after(() => closeRedis(admin));
      await connectRedis(admin, 3000);
      assert.deepEqual(await aclLog(admin), [], `nothing denied on ${seed}`);
    }
  });
});
