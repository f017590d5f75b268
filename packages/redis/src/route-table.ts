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

  async get(key: string): Promise<string | null> {
    try {
      return await this.client.get(key);
    } catch (err) {
      throw unavailable('GET', err);
    }
  }

  async setNX(key: string, value: string, ttlS: number): Promise<string> {
    try {
      return (await this.scripted.janusSetNX(key, value, ttlS)) ?? value;
    } catch (err) {
      throw unavailable('SET NX', err);
    }
  }

  async set(key: string, value: string, ttlS: number): Promise<string | null> {
    try {
      return await this.scripted.janusSwap(key, value, ttlS);
    } catch (err) {
      throw unavailable('SET', err);
    }
  }

  async renewIfEquals(key: string, value: string, ttlS: number): Promise<boolean> {
    try {
      return (await this.scripted.janusRenewIfEquals(key, value, ttlS)) === 1;
    } catch (err) {
      throw unavailable('renew', err);
    }
  }

  async deleteIfEquals(key: string, value: string): Promise<boolean> {
    try {
      return (await this.scripted.janusDeleteIfEquals(key, value)) === 1;
    } catch (err) {
      throw unavailable('delete', err);
    }
  }

  /**
   * Calls `fn` each time the connection is ready again after it was lost (the server may
   * have restarted empty: the caller writes back what it holds). Returns the unsubscribe.
   */
  onRecovered(fn: () => void): () => void {
    this.recoveredListeners.add(fn);
    return () => this.recoveredListeners.delete(fn);
  }

  async close(): Promise<void> {
    this.recoveredListeners.clear();
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
