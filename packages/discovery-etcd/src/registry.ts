/**
 * EtcdRegistry: one etcd client shared by this process's registrations and discovery
 * watches (PROTOCOL.md 10, Kratos layout).
 *
 * ```ts
 * const registry = new EtcdRegistry({ endpoints: ['http://127.0.0.1:2379'] });
 * const reg = registry.register({ id: 'player-1', name: 'roma.player.service', version: '',
 *   metadata: { color: 'blue', weight: '100' }, endpoints: ['grpc://10.0.0.5:9000'] });
 * const discovery = registry.discovery(['roma.player.service']);
 * ...
 * await registry.close(); // deregisters, stops the watches, closes the client
 * ```
 */
import type { Etcd3 } from 'etcd3';
import type { ServiceInstance } from '@janus/protocol';
import { createEtcdClient } from './client.js';
import { EtcdDiscovery } from './discovery.js';
import { resolveEtcdOptions, type EtcdOptions, type EtcdOptionsInput } from '@janus/protocol';
import { EtcdRegistration } from './registration.js';
import { nodeTimers, silentLog, type Log, type Timers } from './timers.js';

/** Hooks of an {@link EtcdRegistry}. */
export interface EtcdRegistryHooks {
  /** Timers for keepalives and retries; default Node's (unref'd). The gateway passes its Clock. */
  timers?: Timers;
  /** Where warnings (etcd unreachable, a bad value) and registrations are logged; default none. */
  log?: Log;
}

/** A connection to etcd and what runs over it. */
export class EtcdRegistry {
  readonly options: EtcdOptions;
  private readonly client: Etcd3;
  private readonly timers: Timers;
  private readonly log: Log;
  private readonly registrations = new Set<EtcdRegistration>();
  private readonly discoveries = new Set<EtcdDiscovery>();
  private closing: Promise<void> | null = null;

  /**
   * Validates `o` and creates the client; nothing connects until the first registration or
   * discovery.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID naming the bad option (see resolveEtcdOptions).
   */
  constructor(o: EtcdOptionsInput, hooks: EtcdRegistryHooks = {}) {
    this.options = resolveEtcdOptions(o);
    this.client = createEtcdClient(this.options);
    this.timers = hooks.timers ?? nodeTimers;
    this.log = hooks.log ?? silentLog;
  }

  /**
   * Registers `instance` under a lease of `leaseTtlS`, kept alive and re-created after a
   * loss until its close() or this registry's close(). Returns at once; `ready()` resolves
   * at the first successful registration.
   */
  register(instance: ServiceInstance): EtcdRegistration {
    const r = new EtcdRegistration(this.client, this.options, instance, this.timers, this.log);
    this.registrations.add(r);
    r.on((e) => {
      if (e === 'closed') this.registrations.delete(r);
    });
    return r;
  }

  /** Starts watching the instances of `names`; see {@link EtcdDiscovery}. */
  discovery(names: readonly string[]): EtcdDiscovery {
    const d = new EtcdDiscovery(this.client, this.options, names, this.timers, this.log);
    this.discoveries.add(d);
    return d;
  }

  /**
   * Deregisters every registration (bounded by one request deadline each, in parallel),
   * stops every discovery and closes the client. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.registrations].map((r) => r.close()));
      await Promise.all([...this.discoveries].map((d) => d.close()));
      this.client.close();
    })();
    return this.closing;
  }
}
