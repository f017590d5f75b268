/**
 * The route table port (PROTOCOL.md 10) and its embedded in-memory adapter. The Redis
 * adapter (`@janus/redis`, loaded only when `routeTable.redis` is configured) plugs in
 * behind the same interface; test/route-table.contract.ts runs one suite against both.
 *
 * Keys: `r_{service}_{color}_{oid}` -> instance `host:port` (sticky backend choice), and
 * `r_janus.gate.interface_{color}_{uid}` -> a gateway's gRPC `host:port` (who holds the user).
 */
import { performance } from 'node:perf_hooks';
import { GATE_SERVICE_NAME, gateRouteKey, routeKey } from '@janus/protocol';

export { GATE_SERVICE_NAME, gateRouteKey, routeKey };

/**
 * A key/value table with TTLs and compare-and-set writes. All times in seconds; every
 * operation on one key is atomic. An adapter whose store is unreachable rejects with
 * JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE (and never waits longer than its command
 * timeout).
 */
export interface RouteTable {
  /** The value at `key`, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  /**
   * The values at `keys`, in their order (null for each absent or expired key): one batched
   * read (Redis: MGET on a standalone server; on a Redis Cluster one GET per key, all in
   * flight at once, since keys of one call span slots). Callers bound the batch (the HTTP
   * multicast sends at most 1000 keys a call, push/cluster.ts); an empty list answers [].
   */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Sets `key` only when absent; returns the value now stored (ours or the other writer's). */
  setNX(key: string, value: string, ttlS: number): Promise<string>;
  /** Sets `key` unconditionally; returns the value it replaced (null when there was none), read and written in one step. */
  set(key: string, value: string, ttlS: number): Promise<string | null>;
  /** Extends `key`'s TTL only if it still holds `value`; returns whether it did. */
  renewIfEquals(key: string, value: string, ttlS: number): Promise<boolean>;
  /** Deletes `key` only if it still holds `value`; returns whether it did. */
  deleteIfEquals(key: string, value: string): Promise<boolean>;
  /**
   * Releases resources (connections, timers) once the operations in flight have finished,
   * together with the ones their callers send on those answers (the next steps of a
   * renewal): those still succeed, so a shutdown neither fails nor loses them.
   */
  close(): Promise<void>;
}

interface Entry {
  value: string;
  expiresAtMs: number;
}

/**
 * In-process route table: the embedded default. `nowMs` is monotonic time (ms; the gateway
 * passes its Clock's), so a wall-clock step neither expires nor prolongs entries.
 */
export class MemoryRouteTable implements RouteTable {
  private readonly entries = new Map<string, Entry>();
  private sweepAt = 0;

  constructor(private readonly nowMs: () => number = () => performance.now()) {}

  private live(key: string): Entry | null {
    const e = this.entries.get(key);
    if (!e) return null;
    if (e.expiresAtMs <= this.nowMs()) {
      this.entries.delete(key);
      return null;
    }
    return e;
  }

  // Expired entries of keys never read again are dropped by an occasional sweep.
  private maybeSweep(): void {
    const now = this.nowMs();
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    for (const [k, e] of this.entries) if (e.expiresAtMs <= now) this.entries.delete(k);
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((k) => this.live(k)?.value ?? null);
  }

  async setNX(key: string, value: string, ttlS: number): Promise<string> {
    this.maybeSweep();
    const e = this.live(key);
    if (e) return e.value;
    this.entries.set(key, { value, expiresAtMs: this.nowMs() + ttlS * 1000 });
    return value;
  }

  async set(key: string, value: string, ttlS: number): Promise<string | null> {
    this.maybeSweep();
    const old = this.live(key)?.value ?? null;
    this.entries.set(key, { value, expiresAtMs: this.nowMs() + ttlS * 1000 });
    return old;
  }

  async renewIfEquals(key: string, value: string, ttlS: number): Promise<boolean> {
    const e = this.live(key);
    if (!e || e.value !== value) return false;
    e.expiresAtMs = this.nowMs() + ttlS * 1000;
    return true;
  }

  async deleteIfEquals(key: string, value: string): Promise<boolean> {
    const e = this.live(key);
    if (!e || e.value !== value) return false;
    this.entries.delete(key);
    return true;
  }

  /** Nothing to release (the entries go with the table), so operations chained after it still see them. */
  async close(): Promise<void> {}
}
