/**
 * Instance choice for (service, color, oid), PROTOCOL.md 10: use the route table's sticky
 * address if that instance is live; otherwise pick by smooth weighted round robin among
 * the instances of the session's color and `SET NX` it; if another writer won, use theirs.
 * A sticky entry is renewed (TTL) each time it is used.
 */
import type { Discovery, Instance } from './discovery.js';
import { routeKey, type RouteTable } from './route-table.js';

/** Smooth weighted round robin (the nginx algorithm): state per (service, color). */
export class SmoothWeightedRoundRobin {
  private readonly current = new Map<string, number>();

  /** Picks one of `instances` (non-empty); `group` keys the running weights. */
  pick(group: string, instances: readonly Instance[]): Instance {
    let total = 0;
    let best: Instance | undefined;
    let bestWeight = -Infinity;
    for (const inst of instances) {
      const k = `${group}\u0000${inst.id}`;
      const w = (this.current.get(k) ?? 0) + inst.weight;
      this.current.set(k, w);
      total += inst.weight;
      if (w > bestWeight) {
        bestWeight = w;
        best = inst;
      }
    }
    const k = `${group}\u0000${best!.id}`;
    this.current.set(k, this.current.get(k)! - total);
    return best!;
  }
}

/** Picks backend instances through the route table and discovery. */
export class Balancer {
  private readonly swrr = new SmoothWeightedRoundRobin();

  constructor(
    private readonly discovery: Discovery,
    private readonly routes: RouteTable,
    private readonly ttlS: number,
  ) {}

  /**
   * The instance address (`host:port`) serving (service, color, oid), or null when the
   * service has no live instance of that color.
   * @throws whatever the route table's calls reject with (e.g. a Redis error).
   * @param discoveryName the service's discovery name (also its route-table name).
   */
  async pick(discoveryName: string, color: string, oid: bigint): Promise<string | null> {
    const live = this.discovery.instances(discoveryName).filter((i) => i.color === color);
    if (live.length === 0) return null;
    const key = routeKey(discoveryName, color, oid);
    const stored = await this.routes.get(key);
    if (stored !== null && live.some((i) => i.address === stored)) {
      // Renewed on use, so an object in use keeps its instance past the TTL (not awaited:
      // the pick stands either way, and a failed renewal only shortens the entry's life).
      this.routes.renewIfEquals(key, stored, this.ttlS).catch(() => {});
      return stored;
    }
    // The stored instance is gone: drop that entry (only if still stale), then race
    // through SET NX like a first pick, so concurrent pickers agree.
    if (stored !== null) await this.routes.deleteIfEquals(key, stored);
    const chosen = this.swrr.pick(`${discoveryName}\u0000${color}`, live).address;
    const winner = await this.routes.setNX(key, chosen, this.ttlS);
    return live.some((i) => i.address === winner) ? winner : chosen;
  }
}
