/**
 * The push bus port (PROTOCOL.md 11, "Cluster") on Redis pub/sub: PUBLISH on a command
 * client, SUBSCRIBE on a client of its own (a subscribed connection can do nothing else).
 * The bus subscribes its channels again after every reconnect (a standalone subscriber
 * made with `createRedisClient(o, role, { subscriber: true })` leaves that to the bus; a
 * Cluster's is resubscribed by ioredis as well), so a gateway's channels survive a Redis
 * restart without anyone calling subscribe again.
 */
import type { RedisClient } from './client.js';
import { unavailable } from './client.js';

/** What a subscriber is handed: the channel and the message bytes. */
export type PushBusListener = (channel: string, message: Uint8Array) => void;

/** A subscription; `unsubscribe()` stops its listener (and the channels nobody else wants). */
export interface PushBusSubscription {
  unsubscribe(): Promise<void>;
}

/** Redis pub/sub behind the gateway's `PushBus` interface. */
export class RedisPushBus {
  private readonly listeners = new Map<string, Set<PushBusListener>>();
  private readonly recoveredListeners = new Set<() => void>();
  private wasLost = false;

  /**
   * @param publisher a command client (may be the route table's); not closed here unless `ownsPublisher`.
   * @param subscriber a client used for SUBSCRIBE only; closed by close().
   */
  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly ownsPublisher = false,
  ) {
    subscriber.on('error', () => {}); // it reconnects by itself; failures show on publish/subscribe
    subscriber.on('close', () => (this.wasLost = true));
    subscriber.on('ready', () => {
      if (!this.wasLost) return;
      this.wasLost = false;
      // Our own SUBSCRIBE (after ioredis's, where it resubscribes too): its reply says the
      // channels are back.
      const channels = [...this.listeners.keys()];
      const confirmed = channels.length > 0 ? this.subscriber.subscribe(...channels) : Promise.resolve();
      confirmed.then(
        () => {
          for (const fn of this.recoveredListeners) fn();
        },
        () => {}, // lost again: the next 'ready' tries again
      );
    });
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const set = this.listeners.get(channel.toString());
      if (!set) return;
      for (const fn of set) fn(channel.toString(), message);
    });
  }

  /**
   * Publishes `message` on `channel`. Resolves the number of subscribers Redis counted
   * (on a Redis Cluster: those on the node that took it).
   * @throws JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE when Redis does not take it.
   */
  async publish(channel: string, message: Uint8Array): Promise<number> {
    try {
      return await this.publisher.publish(channel, Buffer.from(message.buffer, message.byteOffset, message.byteLength));
    } catch (err) {
      throw unavailable('PUBLISH', err);
    }
  }

  /**
   * Subscribes `fn` to `channels`; resolves once Redis confirmed the subscription.
   * @throws JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE when Redis does not confirm it.
   */
  async subscribe(channels: readonly string[], fn: PushBusListener): Promise<PushBusSubscription> {
    const fresh: string[] = [];
    for (const ch of channels) {
      let set = this.listeners.get(ch);
      if (!set) {
        set = new Set();
        this.listeners.set(ch, set);
        fresh.push(ch);
      }
      set.add(fn);
    }
    if (fresh.length > 0) {
      try {
        await this.subscriber.subscribe(...fresh);
      } catch (err) {
        this.drop(channels, fn);
        throw unavailable('SUBSCRIBE', err);
      }
    }
    return {
      unsubscribe: async () => {
        const gone = this.drop(channels, fn);
        if (gone.length > 0 && this.subscriber.status === 'ready') await this.subscriber.unsubscribe(...gone).catch(() => {});
      },
    };
  }

  private drop(channels: readonly string[], fn: PushBusListener): string[] {
    const gone: string[] = [];
    for (const ch of channels) {
      const set = this.listeners.get(ch);
      if (!set?.delete(fn) || set.size > 0) continue;
      this.listeners.delete(ch);
      gone.push(ch);
    }
    return gone;
  }

  /**
   * Calls `fn` each time the subscriber is back after a lost connection, once its channels
   * are subscribed again. Returns the unsubscribe.
   */
  onRecovered(fn: () => void): () => void {
    this.recoveredListeners.add(fn);
    return () => this.recoveredListeners.delete(fn);
  }

  /** Ends the subscriber connection (and the publisher when owned). Idempotent. */
  async close(): Promise<void> {
    this.recoveredListeners.clear();
    this.listeners.clear();
    this.subscriber.disconnect();
    if (this.ownsPublisher) this.publisher.disconnect();
  }
}
