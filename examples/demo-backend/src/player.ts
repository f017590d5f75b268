/**
 * The demo Player module (mod 3) on the player stream: Echo, Counter, PushLater (docs/demo.md).
 * State lives in one PlayerService instance: counters per uid survive reconnects for as
 * long as the instance lives.
 */
import { utf8, type TunnelMessage } from '@janus/protocol';
import type { TunnelContext, TunnelHandlers } from '@janus/backend';
import { DemoModule, PlayerSeq, PUSH_LATER_DELAY_MS } from './protocol.js';

const EMPTY = new Uint8Array(0);

/** Player module state and handlers. */
export class PlayerService {
  /** uid -> counter value. */
  private readonly counters = new Map<bigint, number>();
  /** Pending PushLater timers per stream, cleared when the stream closes. */
  private readonly timers = new Map<TunnelContext, Set<NodeJS.Timeout>>();
  private readonly pushDelayMs: number;

  /** @param pushDelayMs delay of the PushLater push; default {@link PUSH_LATER_DELAY_MS}. */
  constructor(pushDelayMs = PUSH_LATER_DELAY_MS) {
    this.pushDelayMs = pushDelayMs;
  }

  /** The handlers to serve at the player tunnel path. */
  readonly handlers: TunnelHandlers = {
    onMessage: (ctx, req) => this.onMessage(ctx, req),
    onClose: (ctx) => this.clearTimers(ctx),
  };

  /** The counter of `uid` (0 if it never counted). */
  count(uid: bigint): number {
    return this.counters.get(uid) ?? 0;
  }

  /** Cancels every pending push. */
  stop(): void {
    for (const ctx of [...this.timers.keys()]) this.clearTimers(ctx);
  }

  private onMessage(ctx: TunnelContext, req: TunnelMessage): Uint8Array | undefined {
    // The player stream must not fail over one request: its end logs the client out
    // (PROTOCOL.md 9). An unknown request gets a JSON error reply instead.
    if (req.mod !== DemoModule.Player) return utf8(JSON.stringify({ error: `unknown mod ${req.mod}` }));
    switch (req.seq) {
      case PlayerSeq.Echo:
        // mod, seq, index and obj are copied by the SDK; data goes back untouched.
        return req.data;
      case PlayerSeq.Counter: {
        const count = this.count(ctx.uid) + 1;
        this.counters.set(ctx.uid, count);
        return utf8(JSON.stringify({ count }));
      }
      case PlayerSeq.PushLater:
        this.pushLater(ctx, req.data);
        return EMPTY;
      default:
        return utf8(JSON.stringify({ error: `unknown seq ${req.seq}` }));
    }
  }

  private pushLater(ctx: TunnelContext, data: Uint8Array): void {
    let set = this.timers.get(ctx);
    if (set === undefined) {
      set = new Set();
      this.timers.set(ctx, set);
    }
    const timers = set;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (timers.size === 0) this.timers.delete(ctx);
      ctx.push({ mod: DemoModule.Player, seq: PlayerSeq.Pushed, data });
    }, this.pushDelayMs);
    timers.add(timer);
  }

  private clearTimers(ctx: TunnelContext): void {
    const set = this.timers.get(ctx);
    if (set === undefined) return;
    for (const timer of set) clearTimeout(timer);
    this.timers.delete(ctx);
  }
}
