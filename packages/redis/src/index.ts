/**
 * @janus/redis: the Redis adapters of the gateway's ports (the route table and the push
 * bus, PROTOCOL.md 10 and 11) on ioredis, standalone or Redis Cluster. A package of its
 * own so that the gateway loads ioredis only when `routeTable.redis` is configured
 * (docs/decisions/0017-redis-adapters-and-gateway-identity.md).
 */
export {
  createRedisClient,
  connectRedis,
  closeRedis,
  reconnectDelayMs,
  parseNode,
  type RedisClient,
  type RedisConnectionOptions,
} from './client.js';
export { RedisRouteTable } from './route-table.js';
export { RedisPushBus, type PushBusListener, type PushBusSubscription } from './push-bus.js';
export { openRedisAdapters, type RedisAdapters } from './adapters.js';
