/**
 * A clean shutdown is quiet (PROTOCOL.md 8): a gateway on a real redis-server and a real etcd,
 * with sessions open and every renewal (address claim, session entries, etcd lease) just
 * started when close() comes, logs no warning or error while it stops, and leaves nothing
 * behind (no claim, no gateway table entry, no etcd registration). The order that makes it
 * so: renewals stopped, then the store drains its operations in flight before it closes
 * (route-table.contract.test.ts checks that part on every adapter), discovery before the
 * etcd client. Plus the address claim's release during a renewal in flight.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { GATE_DISCOVERY_NAME, gateRouteKey, SCServerLogout_Code as Code } from '@janus/protocol';
import { closeRedis, connectRedis, createRedisClient } from '@janus/redis';
import { GatewayAddressClaim, gatewayClaimKey, MemoryRouteTable } from '../src/index.js';
import { ManualClock } from '../src/manual-clock.js';
import { until } from './support/discovery-contract.js';
import { startRegisteredBackend } from './support/etcd-backend.js';
import { etcdPerFile } from './support/etcd-server.js';
import { memoryLogger } from './support/management.js';
import { RedisServer } from './support/redis-server.js';
import { loggedIn } from './support/session.js';
import { startStack } from './support/stack.js';

const PLAYER = 'roma.player.service';
const etcd = etcdPerFile();
let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis.stop();
});

describe('a clean shutdown on Redis and etcd', { timeout: 60_000 }, () => {
  it('logs no warning or error, with sessions open and every renewal just started, and leaves nothing behind', async () => {
    const prefix = etcd.prefix('quiet');
    const backend = await startRegisteredBackend({ endpoint: etcd.server.endpoint, prefix, name: PLAYER, id: 'p1', color: '', leaseTtlS: 15 });
    const reader = createRedisClient({ nodes: [redis.address], cluster: false }, 'test-reader');
    const clock = new ManualClock();
    const log = memoryLogger('info');
    const s = await startStack({
      noBackend: true,
      clock,
      logger: log.logger,
      config: {
        // Every renewal fires at the same 5 s: the claim (15 s / 3), the sessions' entries
        // (10 s / 2) and the etcd lease keepalive (15 s / 3).
        routeTable: { ttlS: 10, ownerClaimTtlS: 15, redis: { nodes: [redis.address], cluster: false } },
        discovery: { etcd: { endpoints: [etcd.server.endpoint], prefix, leaseTtlS: 15 } },
      },
    });
    let stopped = false;
    try {
      await connectRedis(reader, 3000);
      const registration = `${prefix}/${GATE_DISCOVERY_NAME}/${s.gw.config.gateway.id}`;
      clock.advance(0); // the registration's first step runs on the gateway's clock
      await etcd.present(registration);
      await until(s.gw.discovery, PLAYER, (l) => l.length === 1);
      const clients = [await loggedIn(s, 'tcp', 701), await loggedIn(s, 'ws', 702), await loggedIn(s, 'tcp', 703)];
      const claimKey = gatewayClaimKey(s.gw.gateAddress);
      assert.equal(await reader.get(claimKey), s.gw.instanceId);
      assert.equal(await reader.get(gateRouteKey('', 702n)), s.gw.gateAddress);

      const from = log.lines.length;
      clock.advance(5_000); // the renewals start, and are in flight when close() comes
      await s.stop();
      stopped = true;
      for (const c of clients) assert.equal(await c.expectLogout(), Code.Waiting);
      // What was left behind (these reads also give a late line time to show).
      assert.equal(await reader.get(claimKey), null, 'the address claim is released');
      for (const uid of [701n, 702n, 703n]) assert.equal(await reader.get(gateRouteKey('', uid)), null, `uid ${uid}'s gateway entry is deleted`);
      assert.equal(await etcd.raw.get(registration).string(), null, 'the etcd registration is revoked');
      const lines = log.lines.slice(from);
      assert.ok(lines.some((l) => l.msg === 'gateway stopped'), 'the stop was logged');
      const loud = lines.filter((l) => (l.level as number) >= 40);
      assert.deepEqual(loud, [], 'no warning or error while it stopped');
    } finally {
      if (!stopped) await s.stop();
      closeRedis(reader);
      await backend.stop();
    }
  });
});

/** A memory table whose operations wait while held, and then run in the order sent (as on one Redis connection). */
class HeldRouteTable extends MemoryRouteTable {
  private gate: Promise<void> | null = null;
  private open = (): void => {};

  hold(): void {
    this.gate = new Promise<void>((resolve) => {
      this.open = () => {
        this.gate = null;
        resolve();
      };
    });
  }

  letGo(): void {
    this.open();
  }

  private async after<T>(op: () => Promise<T>): Promise<T> {
    if (this.gate) await this.gate;
    return op();
  }

  override setNX(key: string, value: string, ttlS: number): Promise<string> {
    return this.after(() => super.setNX(key, value, ttlS));
  }

  override renewIfEquals(key: string, value: string, ttlS: number): Promise<boolean> {
    return this.after(() => super.renewIfEquals(key, value, ttlS));
  }

  override deleteIfEquals(key: string, value: string): Promise<boolean> {
    return this.after(() => super.deleteIfEquals(key, value));
  }
}

describe('the address claim at shutdown', () => {
  it('release() during a renewal that found the claim gone does not let the renewal take it again', async () => {
    const clock = new ManualClock();
    const table = new HeldRouteTable(() => clock.monotonic());
    const log = memoryLogger('info');
    const claim = new GatewayAddressClaim(table, '127.0.0.1:19100', 'gw-1@host#1#abcd', 15, clock, log.logger as pino.Logger);
    await claim.acquire();
    const key = gatewayClaimKey('127.0.0.1:19100');
    await table.deleteIfEquals(key, claim.instanceId); // as a Redis restarted empty
    table.hold();
    clock.advance(5_000); // the renewal's first step waits in the table
    const released = claim.release();
    table.letGo();
    await released;
    // Anything the renewal would still send goes out from its continuations: a turn later it ran.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await table.get(key), null, 'no claim after release()');
    clock.advance(60_000);
    assert.equal(await table.get(key), null, 'and no renewal after it');
    assert.deepEqual(log.lines.filter((l) => (l.level as number) >= 40), []);
  });
});
