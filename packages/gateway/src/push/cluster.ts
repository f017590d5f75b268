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
 * channels. Redis down: a uid held here is still served; a push or kick that needs the
 * table or the bus rejects with JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE (HTTP 503), and
 * so does a multicast, but only when nothing of it was delivered (otherwise it answers the
 * uids that got it: see multicast).
 */
import { encodePushMessage, ErrorCode, gateRouteKey, isJanusError, type JanusError, type Packet, type SCServerLogout_Code } from '@janus/protocol';
import type { RouteTable } from '../route-table.js';
import type { PushOps } from './api.js';
import type { PushBus } from './bus.js';
import type { PushService, PushTarget } from './service.js';

/** Most gateway-table keys (uids x colors) one multicast lookup reads at once (one MGET). */
export const LOOKUP_BATCH_KEYS = 1000;
/** Most lookup batches of one multicast in flight at once. */
export const LOOKUPS_IN_FLIGHT = 4;

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

  /**
   * Multicast over the cluster. Cost: O(n) in the uids; the gateway table is read in
   * batches of at most {@link LOOKUP_BATCH_KEYS} keys (uids x colors), at most
   * {@link LOOKUPS_IN_FLIGHT} batches at once, so 100,000 uids are 200 MGETs with two colors,
   * never 100k commands at once, and the event loop runs between batches.
   *
   * Answer: the uids that got it (delivered here, or handed to a gateway whose channel had
   * a subscriber). A failed lookup (which stops further lookups) or a failed PUBLISH leaves
   * its uids out and the rest stands; only when nothing was delivered and something failed
   * does it reject (JANUS_ERR_ROUTE_TABLE_UNAVAILABLE, HTTP 503), so a caller never takes a
   * partial delivery for a failure and pushes twice to the uids that already got it.
   */
  async multicast(uids: readonly bigint[], packets: readonly Packet[]): Promise<bigint[]> {
    const pushed = this.o.local.multicast(uids, packets);
    const here = new Set(pushed);
    const rest: bigint[] = [];
    const seen = new Set<bigint>();
    for (const u of uids) {
      if (here.has(u) || seen.has(u)) continue;
      seen.add(u);
      rest.push(u);
    }
    let failure: JanusError | null = null;
    const failed = (err: unknown): void => {
      if (!isJanusError(err, ErrorCode.RouteTableUnavailable)) throw err;
      failure ??= err;
    };
    const byGateway = await this.gatewaysOf(rest, failed);
    const bodies = bodiesOf(packets);
    const sent = await Promise.all(
      [...byGateway].map(async ([gw, list]) => {
        try {
          return (await this.publish(gw, { uids: list, bodies })) > 0 ? list : [];
        } catch (err) {
          failed(err);
          return [];
        }
      }),
    );
    const all = pushed.concat(...sent);
    if (all.length === 0 && failure !== null) throw failure;
    return all;
  }

  /**
   * The uids of `uids` held by another gateway, grouped by that gateway, in batched reads
   * (see multicast). A batch that fails is reported to `failed` and ends the lookups (Redis
   * is down or slow: the next batches would only wait out their timeouts too).
   */
  private async gatewaysOf(uids: readonly bigint[], failed: (err: unknown) => void): Promise<Map<string, bigint[]>> {
    const colors = this.o.colors();
    const byGateway = new Map<string, bigint[]>();
    const perBatch = Math.max(1, Math.floor(LOOKUP_BATCH_KEYS / Math.max(1, colors.length)));
    let next = 0;
    let stopped = false;
    const worker = async (): Promise<void> => {
      while (!stopped && next < uids.length) {
        const batch = uids.slice(next, (next += perBatch));
        let found: (string | null)[];
        try {
          found = await this.o.routes.getMany(batch.flatMap((uid) => colors.map((c) => gateRouteKey(c, uid))));
        } catch (err) {
          stopped = true;
          failed(err);
          return;
        }
        batch.forEach((uid, i) => {
          const gw = this.pick(found, i * colors.length, colors.length);
          if (gw === null) return;
          const list = byGateway.get(gw);
          if (list) list.push(uid);
          else byGateway.set(gw, [uid]);
        });
      }
    };
    await Promise.all(Array.from({ length: LOOKUPS_IN_FLIGHT }, worker));
    return byGateway;
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
    const colors = this.o.colors();
    return this.pick(await this.o.routes.getMany(colors.map((c) => gateRouteKey(c, uid))), 0, colors.length);
  }

  /** The first of `found[from .. from+n)` naming another gateway, or null. */
  private pick(found: readonly (string | null)[], from: number, n: number): string | null {
    for (let i = from; i < from + n; i++) {
      const v = found[i];
      if (v != null && v !== this.o.gateAddress) return v;
    }
    return null;
  }

  private publish(channel: string, m: PushMessageInit): Promise<number> {
    return this.o.bus.publish(channel, encodePushMessage(m));
  }
}
