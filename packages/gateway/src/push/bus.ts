/**
 * The push bus port (PROTOCOL.md 11, "Cluster"): channels carrying encoded PushMessages
 * between backends and gateways, and between gateways (a conflicting login's kick). The
 * Redis adapter (`RedisPushBus` in `@janus/redis`) is the cluster's; `MemoryPushBus` is the
 * embedded default, shared by gateways of one process when a caller passes the same one.
 * test/push-bus.contract.test.ts runs one suite against both.
 */

/** Called with each message published on a subscribed channel. */
export type PushBusListener = (channel: string, message: Uint8Array) => void;

/** One subscription; `unsubscribe()` removes its listener. */
export interface PushBusSubscription {
  unsubscribe(): Promise<void>;
}

/**
 * Publish/subscribe on named channels; at-most-once, no history (a message published while
 * nobody listens is lost). Messages of one publisher on one channel arrive in publish
 * order; across channels there is no order (a Redis Cluster carries each channel through
 * the node of its slot). An adapter that cannot reach its store rejects with JanusError
 * JANUS_ERR_ROUTE_TABLE_UNAVAILABLE, and keeps its subscriptions across reconnects itself.
 */
export interface PushBus {
  /**
   * Publishes; resolves 0 when nobody was subscribed, else the adapter's count of receivers
   * (memory: subscriptions; Redis: subscribed connections, i.e. gateways; Redis Cluster:
   * those on the node that took it).
   */
  publish(channel: string, message: Uint8Array): Promise<number>;
  /** Subscribes `fn` to `channels`; resolves once the subscription is in place. */
  subscribe(channels: readonly string[], fn: PushBusListener): Promise<PushBusSubscription>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** In-process channels: delivery on a later microtask, in publish order. */
export class MemoryPushBus implements PushBus {
  private readonly listeners = new Map<string, Set<PushBusListener>>();

  async publish(channel: string, message: Uint8Array): Promise<number> {
    const set = this.listeners.get(channel);
    if (!set) return 0;
    const targets = [...set];
    const copy = Uint8Array.from(message); // like a network hop: the publisher may reuse its buffer
    queueMicrotask(() => {
      for (const fn of targets) fn(channel, copy);
    });
    return targets.length;
  }

  async subscribe(channels: readonly string[], fn: PushBusListener): Promise<PushBusSubscription> {
    for (const ch of channels) {
      let set = this.listeners.get(ch);
      if (!set) this.listeners.set(ch, (set = new Set()));
      set.add(fn);
    }
    return {
      unsubscribe: async () => {
        for (const ch of channels) {
          const set = this.listeners.get(ch);
          if (set?.delete(fn) && set.size === 0) this.listeners.delete(ch);
        }
      },
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
