/**
 * Both Redis adapters of a gateway from one set of connection options: a command client
 * shared by the route table and PUBLISH, and a subscriber client for the push channels.
 */
import { closeRedis, connectRedis, createRedisClient, type RedisConnectionOptions } from './client.js';
import { RedisPushBus } from './push-bus.js';
import { RedisRouteTable } from './route-table.js';

/** A gateway's Redis adapters; `close()` ends both connections. */
export interface RedisAdapters {
  routeTable: RedisRouteTable;
  pushBus: RedisPushBus;
  close(): Promise<void>;
}

/**
 * Connects both clients (at most `connectTimeoutMs` each, default 3000 ms).
 * @throws JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE when Redis is not reached in time
 *   (both clients are closed again), JANUS_ERR_CONFIG_INVALID for bad node addresses.
 */
export async function openRedisAdapters(o: RedisConnectionOptions): Promise<RedisAdapters> {
  const commands = createRedisClient(o, 'gateway');
  const subscriber = createRedisClient(o, 'gateway-sub', { subscriber: true });
  const routeTable = new RedisRouteTable(commands);
  const pushBus = new RedisPushBus(commands, subscriber);
  try {
    await Promise.all([connectRedis(commands, o.connectTimeoutMs ?? 3000), connectRedis(subscriber, o.connectTimeoutMs ?? 3000)]);
  } catch (err) {
    closeRedis(commands);
    closeRedis(subscriber);
    throw err;
  }
  return {
    routeTable,
    pushBus,
    async close() {
      await pushBus.close();
      await routeTable.close();
    },
  };
}
