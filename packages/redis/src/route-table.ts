/**
 * The route table port (PROTOCOL.md 10) on Redis: the gateway's `RouteTable` interface,
 * each operation one atomic command or Lua script on one key (so it runs unchanged on a
 * Redis Cluster: a script touches only its own key's slot). Scripts go by EVALSHA with
 * ioredis's EVAL fallback, so a restarted server that lost its script cache still answers.
 */
import type { RedisClient } from './client.js';
import { unavailable } from './client.js';

// SET NX, else the stored value: one step, so the key cannot expire in between.
const SET_NX = `local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if ok then return ARGV[1] end
return redis.call('GET', KEYS[1])`;
// SET, returning what it replaced (SET ... GET needs Redis 6.2; this runs on any 5+).
const SWAP = `local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return old`;
const RENEW_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const DELETE_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface Scripted {
  janusSetNX(key: string, value: string, ttlS: number): Promise<string | null>;
  janusSwap(key: string, value: string, ttlS: number): Promise<string | null>;
  janusRenewIfEquals(key: string, value: string, ttlS: number): Promise<number>;
  janusDeleteIfEquals(key: string, value: string): Promise<number>;
}

/**
 * Route table entries as Redis strings with TTLs (`EX`, whole seconds). Errors (not
 * connected, command timeout, a Redis error reply) reject with JanusError
 * JANUS_ERR_ROUTE_TABLE_UNAVAILABLE; nothing waits for a reconnect.
 */
export class RedisRouteTable {
  private readonly scripted: Scripted;
  private readonly recoveredListeners = new Set<() => void>();
  private wasLost = false;
  /** Operations sent and not yet answered; close() waits for them (see there). */
  private readonly inflight = new Set<Promise<unknown>>();

  /**
   * @param client a client from createRedisClient (standalone or Cluster); closed by close()
   *   when `ownsClient` (default true).
   */
  constructor(
    readonly client: RedisClient,
    private readonly ownsClient = true,
  ) {
    client.defineCommand('janusSetNX', { numberOfKeys: 1, lua: SET_NX });
    client.defineCommand('janusSwap', { numberOfKeys: 1, lua: SWAP });
    client.defineCommand('janusRenewIfEquals', { numberOfKeys: 1, lua: RENEW_IF_EQUALS });
    client.defineCommand('janusDeleteIfEquals', { numberOfKeys: 1, lua: DELETE_IF_EQUALS });
    this.scripted = client as unknown as Scripted;
    client.on('error', () => {}); // reported through each failed command; ioredis reconnects
    client.on('close', () => (this.wasLost = true));
    client.on('ready', () => {
      if (!this.wasLost) return;
      this.wasLost = false;
      for (const fn of this.recoveredListeners) fn();
    });
  }

  get(key: string): Promise<string | null> {
    return this.track('GET', this.client.get(key));
  }

  /**
   * The values at `keys` in order (null when absent): one MGET on a standalone server; on a
   * Redis Cluster one GET per key, sent together (an MGET must stay within one slot, and
   * the keys of one uid batch spread over all of them). The caller bounds the batch.
   */
  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    if (this.client.isCluster) return this.track('GET', Promise.all(keys.map((k) => this.client.get(k))));
    return this.track('MGET', this.client.mget(...keys));
  }

  setNX(key: string, value: string, ttlS: number): Promise<string> {
    return this.track('SET NX', this.scripted.janusSetNX(key, value, ttlS).then((v) => v ?? value));
  }

  set(key: string, value: string, ttlS: number): Promise<string | null> {
    return this.track('SET', this.scripted.janusSwap(key, value, ttlS));
  }

  renewIfEquals(key: string, value: string, ttlS: number): Promise<boolean> {
    return this.track('renew', this.scripted.janusRenewIfEquals(key, value, ttlS).then((n) => n === 1));
  }

  deleteIfEquals(key: string, value: string): Promise<boolean> {
    return this.track('delete', this.scripted.janusDeleteIfEquals(key, value).then((n) => n === 1));
  }

  /** `reply` as the port answers (Redis errors as JANUS_ERR_ROUTE_TABLE_UNAVAILABLE), counted in flight until it settles. */
  private track<T>(op: string, reply: Promise<T>): Promise<T> {
    const p = reply.catch((err: unknown) => {
      throw unavailable(op, err);
    });
    this.inflight.add(p);
    const settled = (): void => void this.inflight.delete(p);
    p.then(settled, settled);
    return p;
  }

  /**
   * Calls `fn` each time the connection is ready again after it was lost (the server may
   * have restarted empty: the caller writes back what it holds). Returns the unsubscribe.
   */
  onRecovered(fn: () => void): () => void {
    this.recoveredListeners.add(fn);
    return () => this.recoveredListeners.delete(fn);
  }

  /**
   * Closes the connection (when owned) after the operations in flight have been answered,
   * and after those their callers sent on those answers (a session's renewal is up to four
   * operations in a row, the address claim's two): QUIT first would fail them on a closed
   * connection, and a delete at shutdown would be lost. Each operation is bounded by the
   * command timeout, so this ends.
   */
  async close(): Promise<void> {
    this.recoveredListeners.clear();
    while (this.inflight.size > 0) {
      await Promise.allSettled([...this.inflight]);
      // The callers' next operations are sent from the answers' continuations (microtasks):
      // one macrotask turn later they are in the set.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
