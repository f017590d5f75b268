/**
 * Instance choice for (service, color, oid), PROTOCOL.md 10: use the route table's sticky
 * address if that instance is live; otherwise pick by smooth weighted round robin among
 * the instances of the session's color and `SET NX` it; if another writer won, use theirs.
 * Only instances discovery lists now are live: a removed one gets no new routes.
 * A sticky entry is renewed (TTL) each time it is used.
 */
import type { Discovery, Instance } from './discovery.js';
import { routeKey, type RouteTable } from './route-table.js';

/**
 * Smooth weighted round robin (the nginx algorithm): running weights per group, e.g. per
 * (service, color). State is kept only for instances passed to pick() and dropped by
 * retain(), so it does not grow as instances come and go.
 */
export class SmoothWeightedRoundRobin {
  private readonly groups = new Map<string, Map<string, number>>();

  /** Picks one of `instances` (non-empty); `group` keys the running weights. */
  pick(group: string, instances: readonly Instance[]): Instance {
    let current = this.groups.get(group);
    if (!current) this.groups.set(group, (current = new Map()));
    let total = 0;
    let best: Instance | undefined;
    let bestWeight = -Infinity;
    for (const inst of instances) {
      const w = (current.get(inst.id) ?? 0) + inst.weight;
      current.set(inst.id, w);
      total += inst.weight;
      if (w > bestWeight) {
        bestWeight = w;
        best = inst;
      }
    }
    current.set(best!.id, current.get(best!.id)! - total);
    return best!;
  }

  /** Forgets, in every group whose key starts with `groupPrefix`, the instances not in `ids`; empty groups go. */
  retain(groupPrefix: string, ids: ReadonlySet<string>): void {
    for (const [g, current] of this.groups) {
      if (!g.startsWith(groupPrefix)) continue;
      for (const id of current.keys()) if (!ids.has(id)) current.delete(id);
      if (current.size === 0) this.groups.delete(g);
    }
  }

  /** Instances with running weights, over all groups (for tests: no growth under churn). */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.size;
    return n;
  }
}

/** Picks backend instances through the route table and discovery. */
export class Balancer {
  /** Running weights; pruned when discovery removes an instance. */
  readonly swrr = new SmoothWeightedRoundRobin();

  /**
   * @param ttlS TTL of the route table entries it writes (s).
   */
  constructor(
    private readonly discovery: Discovery,
    private readonly routes: RouteTable,
    private readonly ttlS: number,
  ) {
    // A removed instance leaves the running weights with it.
    discovery.subscribe((name) => this.swrr.retain(`${name}\u0000`, new Set(discovery.instances(name).map((i) => i.id))));
  }

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
