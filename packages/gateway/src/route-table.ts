/**
 * The route table port (PROTOCOL.md 10) and its embedded in-memory adapter. A Redis
 * adapter plugs in behind the same interface.
 *
 * Keys: `r_{service}_{color}_{oid}` -> instance `host:port` (sticky backend choice), and
 * `r_janus.gate.interface_{color}_{uid}` -> a gateway's gRPC `host:port` (who holds the user).
 */
import { performance } from 'node:perf_hooks';

/** A key/value table with TTLs and compare-and-set writes. All times in seconds. */
export interface RouteTable {
  /** The value at `key`, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  /** Sets `key` only when absent; returns the value now stored (ours or the other writer's). */
  setNX(key: string, value: string, ttlS: number): Promise<string>;
  /** Sets `key` unconditionally. */
  set(key: string, value: string, ttlS: number): Promise<void>;
  /** Extends `key`'s TTL only if it still holds `value`; returns whether it did. */
  renewIfEquals(key: string, value: string, ttlS: number): Promise<boolean>;
  /** Deletes `key` only if it still holds `value`; returns whether it did. */
  deleteIfEquals(key: string, value: string): Promise<boolean>;
  /** Releases resources (connections, timers). */
  close(): Promise<void>;
}

/** The service name under which gateways record who holds a user. */
export const GATE_SERVICE_NAME = 'janus.gate.interface';

/** `r_{service}_{color}_{oid}` (PROTOCOL.md 10). */
export function routeKey(service: string, color: string, oid: bigint): string {
  return `r_${service}_${color}_${oid}`;
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

  async setNX(key: string, value: string, ttlS: number): Promise<string> {
    this.maybeSweep();
    const e = this.live(key);
    if (e) return e.value;
    this.entries.set(key, { value, expiresAtMs: this.nowMs() + ttlS * 1000 });
    return value;
  }

  async set(key: string, value: string, ttlS: number): Promise<void> {
    this.maybeSweep();
    this.entries.set(key, { value, expiresAtMs: this.nowMs() + ttlS * 1000 });
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

  async close(): Promise<void> {
    this.entries.clear();
  }
}
