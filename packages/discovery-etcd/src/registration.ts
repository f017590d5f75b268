/**
 * One service instance registered in etcd, PROTOCOL.md 10: key `{prefix}/{name}/{id}`,
 * value the Kratos ServiceInstance JSON, attached to a lease of `leaseTtlS` seconds.
 *
 * Design: one loop, one step at a time, each step a timer.
 *   no lease   -> grant a lease and put the key under it -> registered
 *   registered -> a keepalive every TTL/3
 *   a step fails (etcd unreachable, deadline passed) -> retry after a jittered backoff; once
 *     no keepalive has succeeded for a whole TTL the lease is taken as expired and the next
 *     step grants a new one.
 *   etcd answers that the lease is gone (expired, revoked, etcd restarted without its data)
 *     -> grant a new one and put the key again at once.
 * close() stops the loop and revokes the lease (etcd deletes the key), within one request
 * deadline: shutdown never waits on an unreachable etcd (the key then expires with its TTL).
 */
import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import { encodeServiceInstance, registryKey, type ServiceInstance } from '@janus/protocol';
import type { EtcdOptions } from '@janus/protocol';
import { Backoff, holdingProcess, type Log, type Timers } from './timers.js';

/** What a registration reports (for logs and tests). */
export type RegistrationEvent = 'registered' | 'lost' | 'closed';

/** The state of a registration. */
export type RegistrationState = 'unregistered' | 'registered' | 'closed';

/** A kept-alive registration. Build it with {@link EtcdRegistry.register}. */
export class EtcdRegistration {
  /** The etcd key (`{prefix}/{name}/{id}`). */
  readonly key: string;
  private readonly value: string;
  private readonly backoff: Backoff;
  private lease: Lease | null = null;
  /** The step (grant + put, or a keepalive) in flight; close() waits for it (each call has a deadline). */
  private inflight: Promise<void> | null = null;
  private timer: unknown = null;
  private lastKeepaliveMs = 0;
  private stateNow: RegistrationState = 'unregistered';
  private readonly listeners = new Set<(e: RegistrationEvent) => void>();
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private closing: Promise<void> | null = null;
  /** Leases granted so far (1 after the first registration; more after losses). */
  grants = 0;

  /** @internal use EtcdRegistry.register */
  constructor(
    private readonly client: Etcd3,
    private readonly o: EtcdOptions,
    instance: ServiceInstance,
    private readonly timers: Timers,
    private readonly log: Log,
  ) {
    this.key = registryKey(o.prefix, instance.name, instance.id);
    this.value = encodeServiceInstance(instance);
    this.backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => {});
    this.schedule(0);
  }

  get state(): RegistrationState {
    return this.stateNow;
  }

  /**
   * Resolves at the first successful registration; rejects (a plain Error) only when
   * close() comes first. Registration keeps retrying until then, and the process stays
   * alive while a caller waits.
   */
  ready(): Promise<void> {
    return this.stateNow === 'unregistered' && this.grants === 0 ? holdingProcess(this.readyPromise) : this.readyPromise;
  }

  /** Calls `fn` on each 'registered' (first time and after every re-creation), 'lost' and 'closed'. */
  on(fn: (e: RegistrationEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: RegistrationEvent): void {
    for (const fn of [...this.listeners]) fn(e);
  }

  private schedule(ms: number): void {
    if (this.stateNow === 'closed') return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      const step = this.step();
      this.inflight = step;
      void step.finally(() => {
        if (this.inflight === step) this.inflight = null;
      });
    }, ms);
  }

  private deadline(): { deadline: number } {
    return { deadline: Date.now() + this.o.requestTimeoutMs };
  }

  private async step(): Promise<void> {
    if (this.stateNow === 'closed') return;
    if (this.lease === null) await this.grantAndPut();
    else await this.keepalive();
  }

  private async grantAndPut(): Promise<void> {
    const lease = this.client.lease(this.o.leaseTtlS, { autoKeepAlive: false, ...this.deadline() });
    lease.on('lost', () => {}); // reported through the calls' rejections below
    this.lease = lease;
    try {
      await lease.grant();
      await lease.put(this.key).value(this.value);
    } catch (err) {
      this.lease = null;
      lease.release();
      if (this.stateNow === 'closed') return;
      if (this.backoff.streak === 0) this.log.warn({ key: this.key, err: describe(err) }, 'etcd registration failed; retrying');
      this.schedule(this.backoff.next());
      return;
    }
    // close() ran while the put was in flight: it revokes this.lease once this step is done.
    if (this.stateNow === 'closed') return;
    this.grants++;
    this.lastKeepaliveMs = this.timers.monotonic();
    this.backoff.reset();
    this.stateNow = 'registered';
    this.log.info({ key: this.key, ttlS: this.o.leaseTtlS }, 'registered in etcd');
    this.resolveReady();
    this.emit('registered');
    this.schedule(this.keepaliveIntervalMs());
  }

  private keepaliveIntervalMs(): number {
    return (this.o.leaseTtlS * 1000) / 3;
  }

  private async keepalive(): Promise<void> {
    const lease = this.lease!;
    try {
      await lease.keepaliveOnce(this.deadline());
    } catch (err) {
      if (this.stateNow === 'closed') return;
      const expired = err instanceof EtcdLeaseInvalidError || this.timers.monotonic() - this.lastKeepaliveMs >= this.o.leaseTtlS * 1000;
      if (expired) {
        this.lease = null;
        lease.release();
        this.stateNow = 'unregistered';
        this.log.warn({ key: this.key, err: describe(err) }, 'etcd lease lost; registering again');
        this.emit('lost');
        // etcd answered (the lease is gone): register again at once; unreachable: back off.
        this.schedule(err instanceof EtcdLeaseInvalidError ? 0 : this.backoff.next());
      } else {
        this.schedule(Math.min(this.backoff.next(), this.keepaliveIntervalMs()));
      }
      return;
    }
    this.lastKeepaliveMs = this.timers.monotonic();
    this.backoff.reset();
    this.schedule(this.keepaliveIntervalMs());
  }

  /**
   * Deregisters: stops the keepalives and revokes the lease, so etcd deletes the key at
   * once. Waits for a step in flight (a grant and put that may just have written the key)
   * and for the revoke, each bounded by one request deadline; with etcd unreachable the
   * key expires with its lease TTL instead. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stateNow = 'closed';
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      this.timer = null;
      this.rejectReady(new Error(`etcd registration ${this.key} closed before it registered`));
      await this.inflight?.catch(() => {});
      // A lease left here was granted (a failed grant or put clears it): revoke it, key and all.
      const lease = this.lease;
      this.lease = null;
      if (lease) {
        try {
          await lease.revoke(this.deadline());
        } catch (err) {
          this.log.warn({ key: this.key, err: describe(err) }, 'etcd lease revoke failed; the key expires with its TTL');
        }
      }
      this.emit('closed');
    })();
    return this.closing;
  }
}

/** A short reason for a log line. */
export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
