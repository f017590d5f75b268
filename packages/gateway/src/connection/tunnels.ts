/**
 * A connection's tunnels (PROTOCOL.md 9): the player stream, the object streams keyed by
 * (service, obj), their limit, and backpressure (a tunnel whose write() returned false
 * holds the inbox until it drains).
 *
 * Bound: at most `maxObjectTunnels` object streams open per connection; opening one more
 * half-closes the least recently used first (the idlest). Half-closed streams that the
 * backend has not ended yet count too, up to the same number again; past that, new
 * objects are refused (ServerUnexpectedErr) until backends end them.
 */
import type { Packet, TunnelMessage } from '@janus/protocol';
import type { ServiceRoute } from '../router.js';
import type { ChannelPool, Tunnel, TunnelListener, TunnelMetadata, TunnelStatus } from '../tunnel.js';
import type { Balancer } from '../balancer.js';

/** What the tunnels report to their connection. */
export interface TunnelsOwner {
  /** A backend reply or push, as the Packet that carries it to the client. */
  onTunnelMessage(p: Packet): void;
  /** A backend reply or push over the receive limit, without its data (`bytes`: its size). */
  onTunnelMessageTooLarge(p: Packet, bytes: number): void;
  /** The player stream ended (the session must end with Waiting). */
  onPlayerTunnelEnd(status: TunnelStatus): void;
  /** An object stream ended with an error status (ServerUnexpectedErr with index 0). */
  onObjectTunnelError(t: Tunnel, status: TunnelStatus): void;
  /** A tunnel asked to pause (true) or every paused tunnel drained (false). */
  onBackpressure(paused: boolean): void;
  /** A tunnel could not be opened (logged by the owner with its context). */
  onOpenFailed(svc: ServiceRoute, reason: string): void;
}

/** Why {@link ConnectionTunnels.openObject} returned no tunnel. */
export type OpenRefusal = 'no backend' | 'too many object tunnels';

interface ObjectEntry {
  tunnel: Tunnel;
  /** Write sequence number of its last use (LRU order). */
  lastUse: number;
}

/** The tunnels of one connection. */
export class ConnectionTunnels implements TunnelListener {
  /** The player stream, once open. */
  player: Tunnel | null = null;
  private readonly objects = new Map<ServiceRoute, Map<bigint, ObjectEntry>>();
  private openObjects = 0;
  /** Object streams half-closed by eviction and not yet ended by their backend. */
  private readonly closingObjects = new Set<Tunnel>();
  private readonly awaitingDrain = new Set<Tunnel>();
  private uses = 0;
  private ended = false;
  /** Object streams opened so far / evicted so far (counters). */
  opened = 0;
  evicted = 0;

  /**
   * @param maxObjectTunnels object streams open at once (count, >= 1).
   * @param metadata the connection's stream metadata, without the oid.
   */
  constructor(
    private readonly owner: TunnelsOwner,
    private readonly channels: ChannelPool,
    private readonly balancer: Balancer,
    private readonly maxObjectTunnels: number,
    private readonly metadata: () => Omit<TunnelMetadata, 'oid'> & { color: string },
  ) {}

  /** Object streams open now (not counting half-closed ones). */
  get objectCount(): number {
    return this.openObjects;
  }

  /** Object streams half-closed and not yet ended by their backend. */
  get closingCount(): number {
    return this.closingObjects.size;
  }

  /** True while a tunnel that asked to pause has not drained. */
  get paused(): boolean {
    return this.awaitingDrain.size !== 0;
  }

  /**
   * Opens a stream for (svc, oid) on the instance the balancer picks; `traceHeaders` (W3C
   * trace context of the request that opens it, tracing on) go with the stream metadata.
   * Resolves null when there is no instance or the stream could not start (owner told why).
   */
  async open(svc: ServiceRoute, oid: bigint, traceHeaders?: Record<string, string>): Promise<Tunnel | null> {
    const md = this.metadata();
    try {
      const address = await this.balancer.pick(svc.discoveryName, md.color, oid);
      if (!address) {
        this.owner.onOpenFailed(svc, 'no backend instance');
        return null;
      }
      return await this.channels.open(address, svc, { ...md, oid }, this, traceHeaders);
    } catch (err) {
      this.owner.onOpenFailed(svc, (err as Error).message);
      return null;
    }
  }

  /** The open object stream of (svc, oid), marked as just used. */
  getObject(svc: ServiceRoute, oid: bigint): Tunnel | undefined {
    const e = this.objects.get(svc)?.get(oid);
    if (!e) return undefined;
    e.lastUse = ++this.uses;
    return e.tunnel;
  }

  /** Whether a new object stream may open now (the half-closed ones are under the bound). */
  canOpenObject(): boolean {
    return !this.ended && (this.openObjects < this.maxObjectTunnels || this.closingObjects.size < this.maxObjectTunnels);
  }

  /** Adds a just-opened object stream, evicting the least recently used one when at the limit. */
  addObject(svc: ServiceRoute, oid: bigint, t: Tunnel): void {
    if (this.openObjects >= this.maxObjectTunnels) this.evictIdlest();
    let m = this.objects.get(svc);
    if (!m) this.objects.set(svc, (m = new Map()));
    m.set(oid, { tunnel: t, lastUse: ++this.uses });
    this.openObjects++;
    this.opened++;
  }

  /**
   * Writes a request; when the stream asks to pause, the owner is told (once per tunnel).
   * `trace`: the request's encoded trace context fields (tracing on).
   */
  write(t: Tunnel, p: Packet, trace?: Uint8Array): void {
    // A Packet has every TunnelRequest field under the same name (compress is ignored).
    if (!t.write(p as TunnelMessage, trace) && !this.awaitingDrain.has(t)) {
      // A stream emits one 'drain' however many writes returned false: count tunnels, not writes.
      this.awaitingDrain.add(t);
      if (this.awaitingDrain.size === 1) this.owner.onBackpressure(true);
    }
  }

  /** Half-closes every stream (the client connection closed). Idempotent. */
  endAll(): void {
    this.ended = true;
    this.player?.end();
    this.player = null;
    for (const m of this.objects.values()) for (const e of m.values()) e.tunnel.end();
    this.objects.clear();
    this.openObjects = 0;
    this.awaitingDrain.clear();
  }

  private evictIdlest(): void {
    let idlest: ObjectEntry | undefined;
    for (const m of this.objects.values()) for (const e of m.values()) if (!idlest || e.lastUse < idlest.lastUse) idlest = e;
    if (!idlest) return;
    const t = idlest.tunnel;
    this.forget(t);
    this.closingObjects.add(t);
    this.evicted++;
    t.end();
    this.drained(t);
  }

  /** Removes `t` from the open object streams if it is the one recorded for its key. */
  private forget(t: Tunnel): boolean {
    const m = this.objects.get(t.route);
    if (m?.get(t.oid)?.tunnel !== t) return false;
    m.delete(t.oid);
    if (m.size === 0) this.objects.delete(t.route);
    this.openObjects--;
    return true;
  }

  private drained(t: Tunnel): void {
    if (this.awaitingDrain.delete(t) && this.awaitingDrain.size === 0 && !this.ended) this.owner.onBackpressure(false);
  }

  /** @internal TunnelListener */
  onMessage(_t: Tunnel, p: Packet): void {
    this.owner.onTunnelMessage(p);
  }

  /** @internal TunnelListener */
  onTooLarge(_t: Tunnel, p: Packet, bytes: number): void {
    this.owner.onTunnelMessageTooLarge(p, bytes);
  }

  /** @internal TunnelListener */
  onDrain(t: Tunnel): void {
    this.drained(t);
  }

  /** @internal TunnelListener (PROTOCOL.md 9 lifecycle). */
  onEnd(t: Tunnel, status: TunnelStatus): void {
    // An ended stream never drains: stop waiting for it.
    this.drained(t);
    if (this.closingObjects.delete(t)) return;
    if (t === this.player) {
      this.player = null;
      if (!this.ended) this.owner.onPlayerTunnelEnd(status);
      return;
    }
    const wasOpen = this.forget(t);
    if (wasOpen && status.code !== 0 && !this.ended) this.owner.onObjectTunnelError(t, status);
  }
}
