/**
 * The cluster push channel consumer (PROTOCOL.md 11, "Cluster"): PushMessages on the
 * broadcast channel (every gateway acts on it) and on this gateway's own channel (its gRPC
 * `host:port`, where backends and other gateways send what concerns users found here
 * through the gateway table), applied to the local PushService. A message that does not
 * decode is logged and dropped; nothing a channel carries can stop the consumer.
 */
import type { Logger } from 'pino';
import { decodePushMessage, encodePushMessage, gateRouteKey, SCServerLogout_Code, type PushMessage } from '@janus/protocol';
import type { RouteTable } from '../route-table.js';
import type { PushBus, PushBusSubscription } from './bus.js';
import { checkKickCode, pushPackets, type PushService, type PushTarget } from './service.js';

/** What the consumer needs of the gateway. */
export interface PushChannelOptions<C extends PushTarget> {
  bus: PushBus;
  service: PushService<C>;
  /** The session of a uid here (to check a conflicting-login kick against the gateway table). */
  session(uid: bigint): C | undefined;
  routes: RouteTable;
  /** This gateway's gRPC host:port: its own channel and its gateway table value. */
  gateAddress: string;
  /** The channel every gateway listens on (`push.broadcastChannel`, default gate.broadcast.message). */
  broadcastChannel: string;
  log: Logger;
}

/** Counters of what the consumer did (tests and stats read them). */
export interface PushChannelStats {
  received: number;
  malformed: number;
  /** Sessions that got a push / were kicked. */
  delivered: number;
  kicked: number;
}

/** Subscribes to the two channels and applies what arrives. */
export class PushChannel<C extends PushTarget> {
  private sub: PushBusSubscription | null = null;
  readonly stats: PushChannelStats = { received: 0, malformed: 0, delivered: 0, kicked: 0 };

  constructor(private readonly o: PushChannelOptions<C>) {}

  /**
   * Subscribes (the bus keeps the subscription across its reconnects).
   * @throws JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE when the bus does not confirm it.
   */
  async start(): Promise<void> {
    this.sub = await this.o.bus.subscribe([this.o.broadcastChannel, this.o.gateAddress], (channel, message) => this.onMessage(channel, message));
  }

  /** Publishes a ConflictingLogin kick of `uid` on the gateway `owner`'s channel. */
  async kickElsewhere(owner: string, uid: bigint): Promise<void> {
    await this.o.bus.publish(owner, encodePushMessage({ uids: [uid], kick: true, kickCode: SCServerLogout_Code.ConflictingLogin }));
  }

  /** Unsubscribes. Idempotent. */
  async stop(): Promise<void> {
    const s = this.sub;
    this.sub = null;
    await s?.unsubscribe();
  }

  private onMessage(channel: string, bytes: Uint8Array): void {
    this.stats.received++;
    let m: PushMessage;
    try {
      m = decodePushMessage(bytes);
      if (m.kick) checkKickCode(m.kickCode);
    } catch (err) {
      this.stats.malformed++;
      this.o.log.warn({ channel, bytes: bytes.length, err: (err as Error).message }, 'malformed push message dropped');
      return;
    }
    if (m.kick) {
      for (const uid of m.uids) void this.kick(uid, m.kickCode);
      return;
    }
    let packets;
    try {
      packets = pushPackets(m.bodies);
    } catch (err) {
      this.stats.malformed++;
      this.o.log.warn({ channel, err: (err as Error).message }, 'push message refused');
      return;
    }
    const { service } = this.o;
    if (m.broadcast) this.stats.delivered += service.broadcast(m.color, m.sid, packets);
    else this.stats.delivered += service.multicast(m.uids, packets).length;
  }

  private async kick(uid: bigint, code: SCServerLogout_Code): Promise<void> {
    const s = this.o.session(uid);
    if (!s) return;
    if (code === SCServerLogout_Code.ConflictingLogin) {
      // A newer login of the uid on this gateway may have replaced the session this kick
      // was meant for (and kicked it locally): then the gateway table names us again.
      try {
        if ((await this.o.routes.get(gateRouteKey(s.color, uid))) === this.o.gateAddress) return;
      } catch (err) {
        this.o.log.warn({ err }, 'gateway table check of a conflicting-login kick failed; kicking');
      }
      if (this.o.session(uid) !== s) return; // replaced meanwhile: the newer login settles it
    }
    if (this.o.service.kick(uid, code)) this.stats.kicked++;
  }
}
