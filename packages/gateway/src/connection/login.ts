/**
 * The login steps of PROTOCOL.md 7.6 and their undoing: conflicting login, the gateway
 * route table entry (set, renewed every TTL/2 while ours, deleted at disconnect while ours,
 * PROTOCOL.md 10), and the player tunnel. The only part of a connection that touches the
 * route table and the session registry.
 */
import type { Logger } from 'pino';
import { SCServerLogout_Code } from '@janus/protocol';
import type { Clock, TimerHandle } from '../clock.js';
import { GATE_SERVICE_NAME, routeKey, type RouteTable } from '../route-table.js';
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
  /** Gateway table TTL (s). */
  ttlS: number;
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
    this.gateKey = routeKey(GATE_SERVICE_NAME, subject.color, subject.uid);
  }

  /**
   * Registers the session: an older connection of the uid on this gateway is ended with
   * ConflictingLogin, then the gateway table entry is written and its renewal started.
   * Resolves false when the connection closed meanwhile (the entry is released again).
   * @throws whatever the route table's set rejects with.
   */
  async register(): Promise<boolean> {
    const { sessions, routes } = this.ctx;
    sessions.login(this.subject, SCServerLogout_Code.ConflictingLogin);
    this.registered = true;
    await routes.set(this.gateKey, this.ctx.gateAddress, this.ctx.ttlS);
    if (!this.subject.stillLoggingIn()) {
      // Closed while the entry was written: release() ran before the entry existed.
      await this.deleteEntryUnlessNewer();
      return false;
    }
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

  private scheduleRenew(): void {
    this.renewTimer = this.ctx.clock.setTimeout(() => {
      this.ctx.routes
        .renewIfEquals(this.gateKey, this.ctx.gateAddress, this.ctx.ttlS)
        .catch((err: unknown) => this.ctx.log.warn({ err }, 'gateway route renew failed'));
      this.scheduleRenew();
    }, (this.ctx.ttlS * 1000) / 2);
  }
}
