/**
 * The demo Room module (mod 4): chat rooms on room streams, one stream per (client, room),
 * oid = room id (docs/demo.md). A member is a uid bound to the stream it joined through;
 * when that stream closes, the member leaves.
 */
import * as grpc from '@grpc/grpc-js';
import { utf8, type TunnelMessage } from '@janus/protocol';
import type { TunnelContext, TunnelHandlers } from '@janus/backend';
import { DemoModule, MAX_NAME_LENGTH, MAX_TEXT_LENGTH, RoomSeq } from './protocol.js';

interface Member {
  readonly uid: bigint;
  ctx: TunnelContext;
  name: string;
}

/** Members in join order (Map keeps insertion order). */
type Room = Map<bigint, Member>;

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The request body as a JSON object: empty data counts as `{}`. Returns a reason string
 * when the data is not UTF-8 JSON holding an object.
 */
function parseBody(data: Uint8Array): Record<string, unknown> | string {
  if (data.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(data));
  } catch {
    return 'data is not UTF-8 JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'data must be a JSON object';
  return value as Record<string, unknown>;
}

function json(value: unknown): Uint8Array {
  return utf8(JSON.stringify(value));
}

/** Room module state and handlers. */
export class RoomService {
  private readonly rooms = new Map<bigint, Room>();

  /** The handlers to serve at the room tunnel path. */
  readonly handlers: TunnelHandlers = {
    onMessage: (ctx, req) => this.onMessage(ctx, req),
    onClose: (ctx) => this.leave(ctx),
  };

  /** uids in room `id`, in join order (empty for an unknown room). */
  members(id: bigint): bigint[] {
    return [...(this.rooms.get(id)?.keys() ?? [])];
  }

  private onMessage(ctx: TunnelContext, req: TunnelMessage): undefined {
    if (req.mod !== DemoModule.Room) {
      ctx.fail(grpc.status.UNIMPLEMENTED, `unknown mod ${req.mod}`);
      return;
    }
    if (req.seq !== RoomSeq.Join && req.seq !== RoomSeq.Leave && req.seq !== RoomSeq.Say) {
      ctx.fail(grpc.status.UNIMPLEMENTED, `unknown seq ${req.seq}`);
      return;
    }
    // Room ids and uids travel as JSON numbers: refuse those a number cannot hold exactly.
    if (ctx.oid < 0n || ctx.oid > MAX_SAFE || ctx.uid < 0n || ctx.uid > MAX_SAFE) {
      ctx.fail(grpc.status.INVALID_ARGUMENT, 'room id and uid must be in 0..2^53-1');
      return;
    }
    const body = parseBody(req.data);
    if (typeof body === 'string') {
      ctx.fail(grpc.status.INVALID_ARGUMENT, body);
      return;
    }
    if (req.seq === RoomSeq.Join) this.join(ctx, req, body);
    else if (req.seq === RoomSeq.Leave) this.leaveRequest(ctx, req);
    else this.say(ctx, req, body);
  }

  private join(ctx: TunnelContext, req: TunnelMessage, body: Record<string, unknown>): void {
    const name = body['name'] ?? `player ${ctx.uid}`;
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
      ctx.fail(grpc.status.INVALID_ARGUMENT, `name must be a string of 1..${MAX_NAME_LENGTH} characters`);
      return;
    }
    let room = this.rooms.get(ctx.oid);
    if (room === undefined) {
      room = new Map();
      this.rooms.set(ctx.oid, room);
    }
    const existing = room.get(ctx.uid);
    if (existing) {
      // Joining again (possibly through a newer stream of the same player): rebind, no event.
      existing.ctx = ctx;
      existing.name = name;
    } else {
      room.set(ctx.uid, { uid: ctx.uid, ctx, name });
    }
    ctx.reply(req, json({ room: Number(ctx.oid), members: [...room.keys()].map(Number) }));
    if (!existing) this.broadcast(room, ctx.uid, RoomSeq.Event, { event: 'join', uid: Number(ctx.uid), name });
  }

  private leaveRequest(ctx: TunnelContext, req: TunnelMessage): void {
    ctx.reply(req, json({ room: Number(ctx.oid) }));
    this.leave(ctx);
  }

  private say(ctx: TunnelContext, req: TunnelMessage, body: Record<string, unknown>): void {
    const text = body['text'];
    if (typeof text !== 'string' || text.length > MAX_TEXT_LENGTH) {
      ctx.fail(grpc.status.INVALID_ARGUMENT, `text must be a string of at most ${MAX_TEXT_LENGTH} characters`);
      return;
    }
    const room = this.rooms.get(ctx.oid);
    const member = room?.get(ctx.uid);
    if (room === undefined || member === undefined || member.ctx !== ctx) {
      ctx.fail(grpc.status.FAILED_PRECONDITION, `join room ${ctx.oid} first`);
      return;
    }
    ctx.reply(req, json({}));
    this.broadcast(room, null, RoomSeq.Message, { uid: Number(ctx.uid), name: member.name, text });
  }

  /** Removes the member bound to `ctx` (if any) and tells the others. */
  private leave(ctx: TunnelContext): void {
    const room = this.rooms.get(ctx.oid);
    const member = room?.get(ctx.uid);
    if (room === undefined || member === undefined || member.ctx !== ctx) return;
    room.delete(ctx.uid);
    if (room.size === 0) this.rooms.delete(ctx.oid);
    else this.broadcast(room, ctx.uid, RoomSeq.Event, { event: 'leave', uid: Number(ctx.uid) });
  }

  /** Pushes `body` to every member of `room` except `except` (null: everyone). */
  private broadcast(room: Room, except: bigint | null, seq: number, body: unknown): void {
    const data = json(body);
    for (const member of room.values()) {
      if (member.uid === except) continue;
      // obj defaults to the member stream's oid: the room id.
      member.ctx.push({ mod: DemoModule.Room, seq, data });
    }
  }
}
