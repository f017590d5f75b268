/**
 * Redis clients for Janus (ioredis): standalone or Redis Cluster by options, failing fast
 * while disconnected (no offline queue, a command timeout), reconnecting with capped
 * exponential backoff and jitter. Used by the route table and the push bus adapters, and
 * by backends that push (docs/deployment.md, "Redis").
 */
import { Cluster, Redis } from 'ioredis';
import { ErrorCode, JanusError } from '@janus/protocol';

/** Where Redis is and how to talk to it. Times in ms. */
export interface RedisConnectionOptions {
  /** `host:port` of the server (standalone: exactly one), or seed nodes of a Redis Cluster. */
  nodes: readonly string[];
  /** true: Redis Cluster (slots discovered from the seed nodes); false: one standalone server. */
  cluster: boolean;
  /** Database number (standalone only; a cluster has only database 0). Default 0. */
  db?: number;
  /** ACL user name and password (AUTH), if the server wants them. */
  username?: string;
  password?: string;
  /** A command without a reply within this fails (ms). Default 1000. */
  commandTimeoutMs?: number;
  /** TCP connect + handshake bound per attempt (ms). Default 3000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap (ms), each delay drawn from [d/2, d]. Defaults 100 and 5000. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** A connected Redis client: a standalone `Redis` or a `Cluster` (both speak the same commands). */
export type RedisClient = Redis | Cluster;

/**
 * The delay before reconnect attempt `times` (1, 2, ...): min(maxMs, minMs * 2^(times-1)),
 * then a uniformly random point of its upper half, so gateways that lost Redis together
 * do not come back in lockstep.
 * @param random a number in [0, 1) (tests pass a fixed one).
 */
export function reconnectDelayMs(times: number, minMs: number, maxMs: number, random: number = Math.random()): number {
  const capped = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(times - 1, 0), 30));
  return Math.max(1, Math.round(capped / 2 + (capped / 2) * random));
}

/** Splits `host:port` (IPv6 in brackets: `[::1]:6379`). */
export function parseNode(node: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(node);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new JanusError(ErrorCode.ConfigInvalid, `Redis node "${node}" is not host:port`);
  return { host: m[1] ?? m[2]!, port };
}

/**
 * A new client (not yet connected: call {@link connectRedis}, or let it connect lazily).
 * It carries an 'error' listener of its own: failures surface as rejected commands.
 * `use.subscriber`: the client will only SUBSCRIBE (give it to a RedisPushBus).
 * `role` names it in errors and in Redis's CLIENT LIST (`janus-<role>`).
 * @throws JanusError JANUS_ERR_CONFIG_INVALID for a bad node or a standalone list of more than one node.
 */
export function createRedisClient(o: RedisConnectionOptions, role: string, use: { subscriber?: boolean } = {}): RedisClient {
  const nodes = o.nodes.map(parseNode);
  if (nodes.length === 0) throw new JanusError(ErrorCode.ConfigInvalid, 'Redis: no node given');
  const minMs = o.reconnectMinMs ?? 100;
  const maxMs = o.reconnectMaxMs ?? 5000;
  const retry = (times: number): number => reconnectDelayMs(times, minMs, maxMs);
  const common = {
    username: o.username,
    password: o.password,
    connectionName: `janus-${role}`,
    // No CLIENT SETINFO (ioredis's library name and version): Redis before 7.2 has no such
    // subcommand, so an ACL rule allowing it cannot even be loaded there, and a denied one
    // fills the ACL LOG at every connect. docs/deployment.md lists what Janus does send.
    disableClientInfo: true,
    commandTimeout: o.commandTimeoutMs ?? 1000,
    connectTimeout: o.connectTimeoutMs ?? 3000,
    // Never queue a command while disconnected: a routing decision fails at once and the
    // caller answers the client (ServerUnexpectedErr, or Waiting at login).
    maxRetriesPerRequest: 0,
    // A standalone subscriber is resubscribed by RedisPushBus itself: ioredis's own
    // resubscribe after a reconnect leaves its promise unhandled, and a socket that closes
    // again at that moment turns it into an unhandled rejection. A Cluster's subscriber
    // client is ioredis's (ClusterSubscriber), which needs its own resubscribe.
    autoResubscribe: o.cluster || !use.subscriber,
    lazyConnect: true,
  };
  let client: RedisClient;
  if (!o.cluster) {
    if (nodes.length !== 1) throw new JanusError(ErrorCode.ConfigInvalid, 'Redis: a standalone server takes exactly one node (set cluster: true for a Redis Cluster)');
    client = new Redis({ ...common, ...nodes[0]!, db: o.db ?? 0, enableOfflineQueue: false, retryStrategy: retry });
  } else {
    client = new Cluster(nodes, { enableOfflineQueue: false, lazyConnect: true, clusterRetryStrategy: retry, redisOptions: common });
  }
  // Connection errors come back through the commands that fail; an 'error' event nobody
  // listens to must not take the process down while the client reconnects.
  client.on('error', () => {});
  return client;
}

/**
 * Connects `client` and waits until it is ready (cluster: slots known), at most `timeoutMs`.
 * @throws JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE when Redis is not reached in time
 *   (the client keeps retrying in the background until closed).
 */
export async function connectRedis(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => client.once('ready', (onReady = resolve)));
  // connect() rejects on the first failed attempt while retries go on: wait for 'ready' instead.
  if (client.status === 'wait') client.connect().catch(() => {});
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new JanusError(ErrorCode.RouteTableUnavailable, `Redis not reachable within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
    client.off('ready', onReady!);
  }
}

/** Ends `client`'s connection at once (pending commands fail). Idempotent. */
export function closeRedis(client: RedisClient): void {
  if (client.status !== 'end') client.disconnect();
}

/** A Redis error as the route table port reports it: JANUS_ERR_ROUTE_TABLE_UNAVAILABLE, the cause kept. */
export function unavailable(op: string, err: unknown): JanusError {
  return new JanusError(ErrorCode.RouteTableUnavailable, `Redis ${op} failed: ${(err as Error).message}`, {}, { cause: err });
}
