/**
 * Pushing to players from a backend through the cluster (PROTOCOL.md 10 and 11): find the
 * gateway holding a uid in the gateway table (`r_janus.gate.interface_{color}_{uid}`, its
 * gRPC host:port) and publish a PushMessage on that gateway's own channel; a broadcast goes
 * on `gate.broadcast.message`, which every gateway acts on. The Redis client is the
 * caller's (ioredis `Redis` or `Cluster`, or `createRedisClient` from `@janus/redis`), so
 * this SDK carries no Redis dependency of its own. See docs/backend-sdk.md, "Push".
 */
import {
  checkKickCode,
  encodePushMessage,
  ErrorCode,
  gateRouteKey,
  JanusError,
  MOD_SYSTEM,
  PUSH_BROADCAST_CHANNEL,
  SCServerLogout_Code,
} from '@janus/protocol';

/** The two Redis commands a pusher needs (ioredis `Redis` and `Cluster` both have them). */
export interface PushRedis {
  get(key: string): Promise<string | null>;
  publish(channel: string, message: Buffer): Promise<number>;
}

/** One pushed Packet's fields (PROTOCOL.md 11 PushBody); omitted ones are 0 / empty. */
export interface PushBodyFields {
  mod: number;
  seq: number;
  data?: Uint8Array;
  obj?: bigint;
  dataVersion?: bigint;
  ver?: number;
}

/** Options of {@link ClusterPusher}. */
export interface ClusterPusherOptions {
  /** The broadcast channel (the gateways' `push.broadcastChannel`); default `gate.broadcast.message`. */
  broadcastChannel?: string;
}

/** Who to reach: the user's token color selects the gateway table key; default ''. */
export interface PushTargetOptions {
  color?: string;
}

/**
 * Push, multicast, broadcast and kick through Redis. Each call resolves once Redis took the
 * messages; delivery is at most once (a gateway pushes only to an open session).
 * Errors: JanusError JANUS_ERR_ARG_INVALID for a body of mod 1 or a bad kick code; the Redis
 * client's own error when a command fails.
 */
export class ClusterPusher {
  private readonly broadcastChannel: string;

  constructor(
    private readonly redis: PushRedis,
    o: ClusterPusherOptions = {},
  ) {
    this.broadcastChannel = o.broadcastChannel ?? PUSH_BROADCAST_CHANNEL;
  }

  /** The gateway (`host:port`) holding `uid`, or null when it is connected nowhere. */
  gatewayOf(uid: bigint, o: PushTargetOptions = {}): Promise<string | null> {
    return this.redis.get(gateRouteKey(o.color ?? '', uid));
  }

  /** Pushes to `uid` wherever it is connected; resolves the gateway it went to, or null when the uid is connected nowhere. */
  async push(uid: bigint, bodies: readonly PushBodyFields[], o: PushTargetOptions = {}): Promise<string | null> {
    const gw = await this.gatewayOf(uid, o);
    if (gw === null) return null;
    await this.publish(gw, { uids: [uid], bodies: checkBodies(bodies) });
    return gw;
  }

  /**
   * Pushes to each uid wherever it is connected: one message per gateway holding some of
   * them. Resolves the uids found in the gateway table (each once).
   */
  async multicast(uids: readonly bigint[], bodies: readonly PushBodyFields[], o: PushTargetOptions = {}): Promise<bigint[]> {
    const checked = checkBodies(bodies);
    const unique = [...new Set(uids)];
    // One GET per uid (a Redis Cluster spreads the keys over slots; MGET would cross them).
    const gateways = await Promise.all(unique.map((uid) => this.gatewayOf(uid, o)));
    const byGateway = new Map<string, bigint[]>();
    unique.forEach((uid, i) => {
      const gw = gateways[i];
      if (!gw) return;
      let list = byGateway.get(gw);
      if (!list) byGateway.set(gw, (list = []));
      list.push(uid);
    });
    await Promise.all([...byGateway].map(([gw, list]) => this.publish(gw, { uids: list, bodies: checked })));
    return [...byGateway.values()].flat();
  }

  /**
   * Pushes to every open session of `color` (empty: all colors) and `sid` (0: all servers)
   * on every gateway. Resolves the number of gateways Redis delivered it to (on a Redis
   * Cluster: those subscribed through the node that took it).
   */
  broadcast(bodies: readonly PushBodyFields[], o: { color?: string; sid?: bigint } = {}): Promise<number> {
    return this.publish(this.broadcastChannel, { broadcast: true, color: o.color ?? '', sid: o.sid ?? 0n, bodies: checkBodies(bodies) });
  }

  /**
   * Ends `uid`'s session wherever it is connected with ServerLogout `code` (default
   * AdminKickOut). Resolves the gateway told, or null when the uid is connected nowhere.
   */
  async kick(uid: bigint, code: SCServerLogout_Code = SCServerLogout_Code.AdminKickOut, o: PushTargetOptions = {}): Promise<string | null> {
    checkKickCode(code);
    const gw = await this.gatewayOf(uid, o);
    if (gw === null) return null;
    await this.publish(gw, { uids: [uid], kick: true, kickCode: code });
    return gw;
  }

  private publish(channel: string, m: Parameters<typeof encodePushMessage>[0]): Promise<number> {
    const bytes = encodePushMessage(m);
    return this.redis.publish(channel, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
}

/**
 * PushBody fields with every default filled in.
 * @throws JanusError JANUS_ERR_ARG_INVALID for a body of mod 1 (System is the gateway's own).
 */
export function checkBodies(bodies: readonly PushBodyFields[]): Parameters<typeof encodePushMessage>[0]['bodies'] {
  return bodies.map((b) => {
    if (b.mod === MOD_SYSTEM) throw new JanusError(ErrorCode.ArgInvalid, 'a push body cannot be of mod 1 (System)', { mod: b.mod, seq: b.seq });
    return { mod: b.mod, seq: b.seq, data: b.data ?? new Uint8Array(0), obj: b.obj ?? 0n, dataVersion: b.dataVersion ?? 0n, ver: b.ver ?? 0 };
  });
}
