/**
 * The push API of the management server's HTTP routes on a gateway in a cluster
 * (PROTOCOL.md 11; docs/decisions/0023-http-push-reaches-the-cluster.md): a call to any
 * gateway reaches the uid wherever it is connected. A uid with an open session here is
 * pushed to (or kicked) here, as the gRPC front does; any other uid is looked up in the
 * gateway table (`r_janus.gate.interface_{color}_{uid}`, one key per color a session can
 * have) and its PushMessage published on the channel of the gateway found, exactly what the
 * backend SDK's ClusterPusher does. A broadcast goes on the broadcast channel, which every
 * gateway (this one too) acts on.
 *
 * Answers: `pushed` / `kicked` / `pushedUids` name the uids found connected (delivered here,
 * or handed to the gateway holding them: its channel had a subscriber); a broadcast's
 * `count` is the number of gateways the push bus delivered it to (ClusterPusher.broadcast's
 * answer), not sessions. Delivery elsewhere is at most once, like every push through the
 * channels. Redis down: a uid held here is still served; anything that needs the table or
 * the bus rejects with JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE (HTTP 503).
 */
import { encodePushMessage, gateRouteKey, type Packet, type SCServerLogout_Code } from '@janus/protocol';
import type { RouteTable } from '../route-table.js';
import type { PushOps } from './api.js';
import type { PushBus } from './bus.js';
import type { PushService, PushTarget } from './service.js';

/** What {@link ClusterPush} needs of the gateway. */
export interface ClusterPushOptions<C extends PushTarget> {
  /** This gateway's sessions. */
  local: PushService<C>;
  /** The gateway table (shared by the cluster's gateways). */
  routes: RouteTable;
  /** The cluster push bus (Redis pub/sub). */
  bus: PushBus;
  /** This gateway's advertised gRPC `host:port` (its gateway table value). */
  gateAddress: string;
  /** `push.broadcastChannel`. */
  broadcastChannel: string;
  /**
   * The token colors a session can have, '' among them: a login is served only by a player
   * instance of its color, so the player service's instance colors cover every session.
   */
  colors(): readonly string[];
}

type PushMessageInit = Parameters<typeof encodePushMessage>[0];
type Bodies = NonNullable<PushMessageInit['bodies']>;

/** The PushBody fields of Packets built by pushPackets (service.ts). */
function bodiesOf(packets: readonly Packet[]): Bodies {
  return packets.map((p) => ({ data: p.data, dataVersion: p.dataVersion, obj: p.obj, mod: p.mod, seq: p.seq, ver: p.ver }));
}

/** Push, multicast, broadcast and kick over the whole cluster; see the module comment. */
export class ClusterPush<C extends PushTarget> implements PushOps {
  constructor(private readonly o: ClusterPushOptions<C>) {}

  async push(uid: bigint, packets: readonly Packet[]): Promise<boolean> {
    if (this.o.local.push(uid, packets)) return true;
    const gw = await this.elsewhere(uid);
    return gw !== null && (await this.publish(gw, { uids: [uid], bodies: bodiesOf(packets) })) > 0;
  }

  async multicast(uids: readonly bigint[], packets: readonly Packet[]): Promise<bigint[]> {
    const pushed = this.o.local.multicast(uids, packets);
    const here = new Set(pushed);
    const byGateway = new Map<string, bigint[]>();
    const rest = [...new Set(uids)].filter((u) => !here.has(u));
    await Promise.all(
      rest.map(async (uid) => {
        const gw = await this.elsewhere(uid);
        if (gw) byGateway.set(gw, [...(byGateway.get(gw) ?? []), uid]);
      }),
    );
    const bodies = bodiesOf(packets);
    const sent = await Promise.all([...byGateway].map(async ([gw, list]) => ((await this.publish(gw, { uids: list, bodies })) > 0 ? list : [])));
    return [...pushed, ...sent.flat()];
  }

  broadcast(color: string, sid: bigint, packets: readonly Packet[]): Promise<number> {
    return this.publish(this.o.broadcastChannel, { broadcast: true, color, sid, bodies: bodiesOf(packets) });
  }

  async kick(uid: bigint, code: SCServerLogout_Code): Promise<boolean> {
    if (this.o.local.kick(uid, code)) return true;
    const gw = await this.elsewhere(uid);
    return gw !== null && (await this.publish(gw, { uids: [uid], kick: true, kickCode: code })) > 0;
  }

  /**
   * The other gateway the table names for `uid` (first color with an entry), or null: no
   * entry, or one naming this gateway (a session still logging in or just closed here).
   */
  private async elsewhere(uid: bigint): Promise<string | null> {
    const found = await Promise.all(this.o.colors().map((c) => this.o.routes.get(gateRouteKey(c, uid))));
    const gw = found.find((v) => v !== null && v !== this.o.gateAddress);
    return gw ?? null;
  }

  private publish(channel: string, m: PushMessageInit): Promise<number> {
    return this.o.bus.publish(channel, encodePushMessage(m));
  }
}
