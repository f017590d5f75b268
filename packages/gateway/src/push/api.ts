/**
 * The push API of one gateway (PROTOCOL.md 11): the four PushService methods on the
 * generated request and response messages, shared by the gRPC front (grpc-server.ts) and
 * the HTTP JSON front (http-routes.ts). Over gRPC they act on this gateway's own sessions
 * only (a backend finds the gateway of a uid through the gateway table); over HTTP on a
 * gateway with a cluster push bus they reach the whole cluster (cluster.ts,
 * docs/decisions/0023-http-push-reaches-the-cluster.md).
 */
import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  BroadcastRequestSchema,
  BroadcastResponseSchema,
  ErrorCode,
  JanusError,
  KickRequestSchema,
  KickResponseSchema,
  MulticastRequestSchema,
  MulticastResponseSchema,
  PushRequestSchema,
  PushResponseSchema,
  type Packet,
  type PushBody,
  type SCServerLogout_Code,
} from '@janus/protocol';
import { checkKickCode, pushPackets } from './service.js';

/** A value, or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/**
 * What the push API calls: a {@link PushService} of any session type (synchronous, this
 * gateway's sessions), or the HTTP front's {@link ClusterPush} (cluster.ts: asynchronous, the
 * whole cluster through the gateway table and the push channels).
 */
export interface PushOps {
  push(uid: bigint, packets: readonly Packet[]): Awaitable<boolean>;
  multicast(uids: readonly bigint[], packets: readonly Packet[]): Awaitable<bigint[]>;
  broadcast(color: string, sid: bigint, packets: readonly Packet[]): Awaitable<number>;
  kick(uid: bigint, code: SCServerLogout_Code): Awaitable<boolean>;
}

/** Largest uid list of one Multicast request (count). */
export const MAX_MULTICAST_UIDS = 100_000;

/** One PushService method: its request and response schemas and what it does. */
export interface PushMethod<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  /** The method's name in `gate.service.push.v1.PushService` and the HTTP route's last segment (lower case). */
  readonly name: 'Push' | 'Multicast' | 'Broadcast' | 'Kick';
  readonly input: I;
  readonly output: O;
  /**
   * Runs the request against `svc`.
   * @throws JanusError JANUS_ERR_ARG_INVALID for a bad request (uid <= 0, no bodies, a body
   *   of mod 1, a code that is no SCServerLogout code, too many uids), synchronously, before
   *   `svc` is called; whatever an asynchronous `svc` rejects with (cluster.ts:
   *   JANUS_ERR_ROUTE_TABLE_UNAVAILABLE) as the returned promise's rejection.
   */
  call(svc: PushOps, req: MessageShape<I>): Awaitable<MessageShape<O>>;
}

function checkUid(uid: bigint, field: string): bigint {
  if (uid <= 0n) throw new JanusError(ErrorCode.ArgInvalid, `${field} must be a uid above 0, got ${uid}`, { field });
  return uid;
}

function checkBodies(bodies: readonly PushBody[]): ReturnType<typeof pushPackets> {
  if (bodies.length === 0) throw new JanusError(ErrorCode.ArgInvalid, 'bodies must hold at least one PushBody');
  return pushPackets(bodies);
}

/** `f(v)` at once for a plain value (the gRPC front stays synchronous), after it for a promise. */
function then<T, R>(v: Awaitable<T>, f: (v: T) => R): Awaitable<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

function method<I extends DescMessage, O extends DescMessage>(m: PushMethod<I, O>): PushMethod {
  return m as unknown as PushMethod;
}

/** The four methods by name (PROTOCOL.md 11). */
export const PUSH_METHODS: ReadonlyMap<string, PushMethod> = new Map(
  [
    method({
      name: 'Push',
      input: PushRequestSchema,
      output: PushResponseSchema,
      call: (svc, req) => then(svc.push(checkUid(req.uid, 'uid'), checkBodies(req.bodies)), (pushed) => create(PushResponseSchema, { pushed })),
    }),
    method({
      name: 'Multicast',
      input: MulticastRequestSchema,
      output: MulticastResponseSchema,
      call: (svc, req) => {
        if (req.uids.length > MAX_MULTICAST_UIDS) throw new JanusError(ErrorCode.ArgInvalid, `uids holds ${req.uids.length} uids, at most ${MAX_MULTICAST_UIDS}`);
        req.uids.forEach((u, i) => checkUid(u, `uids[${i}]`));
        return then(svc.multicast(req.uids, checkBodies(req.bodies)), (pushedUids) => create(MulticastResponseSchema, { pushedUids }));
      },
    }),
    method({
      name: 'Broadcast',
      input: BroadcastRequestSchema,
      output: BroadcastResponseSchema,
      call: (svc, req) => {
        if (req.sid < 0n) throw new JanusError(ErrorCode.ArgInvalid, `sid must be 0 (all) or above, got ${req.sid}`, { field: 'sid' });
        return then(svc.broadcast(req.color, req.sid, checkBodies(req.bodies)), (count) => create(BroadcastResponseSchema, { count: BigInt(count) }));
      },
    }),
    method({
      name: 'Kick',
      input: KickRequestSchema,
      output: KickResponseSchema,
      call: (svc, req) => then(svc.kick(checkUid(req.uid, 'uid'), checkKickCode(req.code)), (kicked) => create(KickResponseSchema, { kicked })),
    }),
  ].map((m) => [m.name, m]),
);
