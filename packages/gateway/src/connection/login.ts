/**
 * The login steps of PROTOCOL.md 7.6 and their undoing: conflicting login (on this gateway
 * through the session registry, on another one through the gateway table and that
 * gateway's push channel), the gateway route table entry (set, renewed every TTL/2 while
 * ours, deleted at disconnect while ours, PROTOCOL.md 10), and the player tunnel. The only
 * part of a connection that touches the route table and the session registry.
 *
 * The entry's value is this gateway's advertised gRPC `host:port`, unique per running
 * gateway (GatewayAddressClaim, decision 0017), so "ours" tells gateways apart; within one
 * gateway the registry tells connections apart.
 */
import type { Logger } from 'pino';
import { SCServerLogout_Code } from '@janus/protocol';
import type { Clock, TimerHandle } from '../clock.js';
import { gateRouteKey, routeKey, type RouteTable } from '../route-table.js';
import type { SessionHolder, SessionRegistry } from '../sessions.js';

/** What a login needs of its connection. */
export interface LoginSubject extends SessionHolder {
  readonly color: string;
  /** Whether the connection is still logging in (false once it closed meanwhile). */
  stillLoggingIn(): boolean;
}

/** What a login needs of the gateway. */
export interface LoginContext<C extends LoginSubject> {
  sessions: SessionRegistry<C>;
  routes: RouteTable;
  /** The value this gateway writes into the gateway table (its gRPC host:port). */
  gateAddress: string;
  /** Gateway table TTL (s); also the player route entry's, renewed with it. */
  ttlS: number;
  /** The player service's discovery name: its route entry `r_{name}_{color}_{uid}` is renewed with the gateway entry. */
  playerDiscoveryName: string;
  /**
   * Ends `uid`'s session on the gateway at `owner` (its gRPC host:port, found in the gateway
   * table) with ServerLogout ConflictingLogin: a kick on that gateway's push channel.
   * @throws when the kick cannot be published (the login then fails).
   */
  kickElsewhere(owner: string, uid: bigint): Promise<void>;
  clock: Clock;
  log: Logger;
}

/** One session's registration: in the registry and the gateway route table. */
export class SessionLogin<C extends LoginSubject> {
  private renewTimer: TimerHandle | null = null;
  private registered = false;
  private readonly gateKey: string;

  constructor(
    private readonly subject: C,
    private readonly ctx: LoginContext<C>,
  ) {
    this.gateKey = gateRouteKey(subject.color, subject.uid);
  }

  /**
   * Registers the session: an older connection of the uid on this gateway is ended with
   * ConflictingLogin, then the gateway table entry is swapped to ours in one step; when it
   * named another gateway, that gateway is told to end its session of the uid
   * (ConflictingLogin). Then the renewal starts. Resolves false when the connection closed
   * meanwhile (the entry is released again).
   * @throws whatever the route table's set or the kick rejects with (JANUS_ERR_ROUTE_TABLE_UNAVAILABLE).
   */
  async register(): Promise<boolean> {
    const { sessions, routes } = this.ctx;
    sessions.login(this.subject, SCServerLogout_Code.ConflictingLogin);
    this.registered = true;
    const previous = await routes.set(this.gateKey, this.ctx.gateAddress, this.ctx.ttlS);
    const elsewhere = previous !== null && previous !== this.ctx.gateAddress ? previous : null;
    if (!this.subject.stillLoggingIn()) {
      // Closed while the entry was written (kicked, deadline, client gone): release() ran
      // before the entry existed. Hand the entry back to the gateway it was taken from.
      await this.deleteEntryUnlessNewer();
      if (elsewhere) await routes.setNX(this.gateKey, elsewhere, this.ctx.ttlS);
      return false;
    }
    // The swap orders concurrent logins of one uid: each kicks the owner it replaced, so the
    // last writer's session is the one left.
    if (elsewhere) await this.ctx.kickElsewhere(elsewhere, this.subject.uid);
    if (!this.registered) return false; // closed while the kick went out: release() deleted the entry
    this.scheduleRenew();
    return true;
  }

  /** Leaves the registry and the gateway table (unless a newer connection of the uid holds them). Idempotent. */
  release(): void {
    if (this.renewTimer) this.ctx.clock.clearTimeout(this.renewTimer);
    this.renewTimer = null;
    if (!this.registered) return;
    this.registered = false;
    this.ctx.sessions.remove(this.subject);
    this.deleteEntryUnlessNewer().catch((err: unknown) => this.ctx.log.warn({ err }, 'gateway route delete failed'));
  }

  private async deleteEntryUnlessNewer(): Promise<void> {
    // Every connection of this gateway writes the same value: leave the entry to a newer
    // connection of the same uid (conflicting login) rather than delete it under it.
    if (this.ctx.sessions.get(this.subject.uid)) return;
    await this.ctx.routes.deleteIfEquals(this.gateKey, this.ctx.gateAddress);
  }

  /**
   * Renews the entry while ours, and writes it back if it is gone (a Redis that restarted
   * empty); leaves it alone when another gateway holds it. Resolves whether it is ours.
   */
  async reassert(): Promise<boolean> {
    if (!this.registered) return false;
    await this.renewPlayerRoute();
    if (await this.ctx.routes.renewIfEquals(this.gateKey, this.ctx.gateAddress, this.ctx.ttlS)) return true;
    return this.restore();
  }

  /**
   * Keeps the uid's sticky player instance while the session lasts (PROTOCOL.md 10): its
   * entry would otherwise lapse ttlS after the login's pick. Whatever it names is kept: a
   * stale instance is replaced by the next pick's live check.
   */
  private async renewPlayerRoute(): Promise<void> {
    const { routes, ttlS } = this.ctx;
    const key = routeKey(this.ctx.playerDiscoveryName, this.subject.color, this.subject.uid);
    const instance = await routes.get(key);
    if (instance !== null) await routes.renewIfEquals(key, instance, ttlS);
  }

  /**
   * Writes the entry back if it is gone (one SET NX, sent at once); resolves whether it is
   * ours afterwards. For a table that came back from an outage.
   */
  restore(): Promise<boolean> {
    if (!this.registered) return Promise.resolve(false);
    const { gateAddress } = this.ctx;
    return this.ctx.routes.setNX(this.gateKey, gateAddress, this.ctx.ttlS).then((v) => v === gateAddress);
  }

  private scheduleRenew(): void {
    this.renewTimer = this.ctx.clock.setTimeout(() => {
      this.reassert().then(
        (ours) => {
          if (!ours && this.registered) this.ctx.log.info('gateway route entry held by another gateway; renewal stopped');
          else if (this.registered) this.scheduleRenew();
        },
        (err: unknown) => {
          this.ctx.log.warn({ err }, 'gateway route renew failed');
          if (this.registered) this.scheduleRenew();
        },
      );
    }, (this.ctx.ttlS * 1000) / 2);
  }
}
