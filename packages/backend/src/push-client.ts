/**
 * A client of one gateway's gRPC PushService (`gate.service.push.v1.PushService`,
 * PROTOCOL.md 11) on grpc-js. The calls act on that gateway's own sessions: to reach a uid
 * wherever it is connected, find its gateway in the gateway table (`ClusterPusher.gatewayOf`
 * gives the gateway's gRPC `host:port`) or publish through the cluster channel
 * (`ClusterPusher`). See docs/backend-sdk.md, "Push".
 */
import * as grpc from '@grpc/grpc-js';
import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { checkKickCode, decodeMessage, encodeMessage, PushService, SCServerLogout_Code } from '@janus/protocol';
import { checkBodies, type PushBodyFields } from './push.js';

/** Default deadline of one call (ms). */
export const DEFAULT_PUSH_CALL_DEADLINE_MS = 5000;

/** Options of {@link GatewayPushClient}. */
export interface GatewayPushClientOptions {
  /** Default: insecure (the internal gRPC port is a trusted network, PROTOCOL.md 1). */
  credentials?: grpc.ChannelCredentials;
  /** Passed to the grpc-js client (channel options). */
  channelOptions?: grpc.ChannelOptions;
  /** Deadline of each call (ms); default {@link DEFAULT_PUSH_CALL_DEADLINE_MS}. */
  deadlineMs?: number;
}

/**
 * Push, multicast, broadcast and kick on one gateway. Each call resolves with the gateway's
 * answer. Errors: JanusError JANUS_ERR_ARG_INVALID (before any call) for a body of mod 1 or
 * a bad kick code; a grpc-js `ServiceError` (`code`, `details`) when the call fails, e.g.
 * INVALID_ARGUMENT for a uid <= 0 or no bodies, UNAVAILABLE when the gateway is not
 * reachable, DEADLINE_EXCEEDED past `deadlineMs`.
 */
export class GatewayPushClient {
  private readonly client: grpc.Client;
  private readonly deadlineMs: number;

  /** @param address the gateway's gRPC `host:port` (its gateway table value, `listen.grpc`). */
  constructor(
    readonly address: string,
    o: GatewayPushClientOptions = {},
  ) {
    this.client = new grpc.Client(address, o.credentials ?? grpc.credentials.createInsecure(), o.channelOptions);
    this.deadlineMs = o.deadlineMs ?? DEFAULT_PUSH_CALL_DEADLINE_MS;
  }

  /** Pushes to `uid`'s session on this gateway; true when it was open (after its SCAuth) and got the bodies. */
  async push(uid: bigint, bodies: readonly PushBodyFields[]): Promise<boolean> {
    const r = await this.call(PushService.method.push, { uid, bodies: checkBodies(bodies) });
    return r.pushed;
  }

  /** Pushes to each uid's session on this gateway; resolves the uids that got it (each once). */
  async multicast(uids: readonly bigint[], bodies: readonly PushBodyFields[]): Promise<bigint[]> {
    const r = await this.call(PushService.method.multicast, { uids: [...uids], bodies: checkBodies(bodies) });
    return r.pushedUids;
  }

  /**
   * Pushes to every open session on this gateway of `color` (empty: any) and `sid` (0: any);
   * resolves how many sessions got it.
   */
  async broadcast(bodies: readonly PushBodyFields[], o: { color?: string; sid?: bigint } = {}): Promise<number> {
    const r = await this.call(PushService.method.broadcast, { color: o.color ?? '', sid: o.sid ?? 0n, bodies: checkBodies(bodies) });
    return Number(r.count);
  }

  /** Ends `uid`'s session on this gateway with ServerLogout `code` (default AdminKickOut); true when there was one. */
  async kick(uid: bigint, code: SCServerLogout_Code = SCServerLogout_Code.AdminKickOut): Promise<boolean> {
    checkKickCode(code);
    const r = await this.call(PushService.method.kick, { uid, code });
    return r.kicked;
  }

  /** Closes the channel; later calls fail. */
  close(): void {
    this.client.close();
  }

  /** One unary call of `method` (the generated PushService descriptor's: its path and schemas). */
  private call<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, req: MessageInitShape<I>): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<MessageInitShape<I>, MessageShape<O>>(
        `/${method.parent.typeName}/${method.name}`,
        (m) => Buffer.from(encodeMessage(method.input, m)),
        (b: Buffer) => decodeMessage(method.output, b),
        req,
        { deadline: Date.now() + this.deadlineMs },
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
    });
  }
}
