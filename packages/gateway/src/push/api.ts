/**
 * The push API of one gateway (PROTOCOL.md 11): the four PushService methods on the
 * generated request and response messages, shared by the gRPC front (grpc-server.ts) and
 * the HTTP JSON front (http-routes.ts). They act on this gateway's own sessions only: a
 * backend finds the gateway of a uid through the gateway table; reaching every gateway is
 * the cluster push channel's job (channel.ts).
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
  type PushBody,
} from '@janus/protocol';
import { checkKickCode, pushPackets, type PushService } from './service.js';

/** What the push API calls: a {@link PushService} of any session type. */
export type PushOps = Pick<PushService, 'push' | 'multicast' | 'broadcast' | 'kick'>;

/** Largest uid list of one Multicast request (count). */
export const MAX_MULTICAST_UIDS = 100_000;

/** One PushService method: its request and response schemas and what it does. */
export interface PushMethod<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  /** The method's name in `gate.service.push.v1.PushService` and the HTTP route's last segment (lower case). */
  readonly name: 'Push' | 'Multicast' | 'Broadcast' | 'Kick';
  readonly input: I;
  readonly output: O;
  /**
   * Runs the request against this gateway's sessions.
   * @throws JanusError JANUS_ERR_ARG_INVALID for a bad request (uid <= 0, no bodies, a body
   *   of mod 1, a code that is no SCServerLogout code, too many uids).
   */
  call(svc: PushOps, req: MessageShape<I>): MessageShape<O>;
}

function checkUid(uid: bigint, field: string): bigint {
  if (uid <= 0n) throw new JanusError(ErrorCode.ArgInvalid, `${field} must be a uid above 0, got ${uid}`, { field });
  return uid;
}

function checkBodies(bodies: readonly PushBody[]): ReturnType<typeof pushPackets> {
  if (bodies.length === 0) throw new JanusError(ErrorCode.ArgInvalid, 'bodies must hold at least one PushBody');
  return pushPackets(bodies);
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
      call: (svc, req) => create(PushResponseSchema, { pushed: svc.push(checkUid(req.uid, 'uid'), checkBodies(req.bodies)) }),
    }),
    method({
      name: 'Multicast',
      input: MulticastRequestSchema,
      output: MulticastResponseSchema,
      call: (svc, req) => {
        if (req.uids.length > MAX_MULTICAST_UIDS) throw new JanusError(ErrorCode.ArgInvalid, `uids holds ${req.uids.length} uids, at most ${MAX_MULTICAST_UIDS}`);
        req.uids.forEach((u, i) => checkUid(u, `uids[${i}]`));
        return create(MulticastResponseSchema, { pushedUids: svc.multicast(req.uids, checkBodies(req.bodies)) });
      },
    }),
    method({
      name: 'Broadcast',
      input: BroadcastRequestSchema,
      output: BroadcastResponseSchema,
      call: (svc, req) => {
        if (req.sid < 0n) throw new JanusError(ErrorCode.ArgInvalid, `sid must be 0 (all) or above, got ${req.sid}`, { field: 'sid' });
        return create(BroadcastResponseSchema, { count: BigInt(svc.broadcast(req.color, req.sid, checkBodies(req.bodies))) });
      },
    }),
    method({
      name: 'Kick',
      input: KickRequestSchema,
      output: KickResponseSchema,
      call: (svc, req) => create(KickResponseSchema, { kicked: svc.kick(checkUid(req.uid, 'uid'), checkKickCode(req.code)) }),
    }),
  ].map((m) => [m.name, m]),
);
