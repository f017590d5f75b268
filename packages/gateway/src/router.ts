/**
 * The module router, PROTOCOL.md 4: (mod, seq) -> backend service, from the configured
 * module table and its (mod, seq) overrides. Module 1 (System) never reaches it.
 */
import type { GatewayConfig } from './config.js';

/** A backend service as the router and tunnels see it. */
export interface ServiceRoute {
  /** Config name, e.g. `player`, `room`. */
  name: string;
  /** gRPC method path of its Tunnel rpc. */
  path: string;
  /** Discovery name, e.g. `roma.player.service`. */
  discoveryName: string;
  /** The player service: streams keyed by uid, opened at login. */
  isPlayer: boolean;
}

/** Resolves (mod, seq) to a service in O(1). */
export class Router {
  private readonly byMod = new Map<number, ServiceRoute>();
  private readonly byModSeq = new Map<number, ServiceRoute>();
  private readonly services: ReadonlyMap<string, ServiceRoute>;
  readonly player: ServiceRoute;

  /**
   * @param previous the router this one replaces (a config reload): a service whose path and
   *   discovery name did not change keeps its ServiceRoute object, so the object tunnels that
   *   connections keyed by it stay in use.
   */
  constructor(cfg: Pick<GatewayConfig, 'modules' | 'routes' | 'services'>, previous?: Router) {
    const services = new Map<string, ServiceRoute>();
    for (const [name, s] of Object.entries(cfg.services)) {
      const old = previous?.services.get(name);
      const same = old !== undefined && old.path === s.path && old.discoveryName === s.discoveryName;
      services.set(name, same ? old : { name, path: s.path, discoveryName: s.discoveryName, isPlayer: name === 'player' });
    }
    this.services = services;
    this.player = services.get('player')!;
    for (const [mod, m] of Object.entries(cfg.modules)) {
      this.byMod.set(Number(mod), services.get(m.service)!);
    }
    for (const r of cfg.routes) this.byModSeq.set(modSeqKey(r.mod, r.seq), services.get(r.service)!);
  }

  /** The service for (mod, seq), or undefined when neither the overrides nor the table know it. */
  route(mod: number, seq: number): ServiceRoute | undefined {
    if (this.byModSeq.size !== 0) {
      const s = this.byModSeq.get(modSeqKey(mod, seq));
      if (s) return s;
    }
    return this.byMod.get(mod);
  }
}

function modSeqKey(mod: number, seq: number): number {
  // mod and seq are int32; pack into one safe integer key.
  return mod * 4294967296 + (seq >>> 0);
}
