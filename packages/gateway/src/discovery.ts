/**
 * The discovery port (PROTOCOL.md 10) and its embedded static adapter (instances listed in
 * the config file). The etcd adapter is the `@janus/discovery-etcd` package, loaded by the
 * composition root only when `discovery.etcd` is configured
 * (docs/decisions/0016-etcd-discovery.md). One contract suite runs against both
 * (test/discovery-contract.ts).
 */
import { instanceOf, sameInstances, type Instance } from '@janus/protocol';

export type { Instance } from '@janus/protocol';

/** Where backend instances come from. Lists are cached: reading one never waits on I/O. */
export interface Discovery {
  /**
   * Live instances of a discovery name (any color), in a stable order; [] for a name
   * without instances. The array is replaced, never mutated, when the list changes.
   */
  instances(name: string): readonly Instance[];
  /**
   * Resolves once every watched name has been listed once. An adapter that cannot reach
   * its source may never resolve: callers bound the wait.
   */
  ready(): Promise<void>;
  /**
   * Calls `listener(name)` after the list of `name` changed (an instance added, removed
   * or changed). Returns the function that unsubscribes.
   */
  subscribe(listener: (name: string) => void): () => void;
  /** Releases resources (watches, leases). Idempotent. */
  close(): Promise<void>;
}

/** One instance as the config's `discovery.static` lists it (the Kratos shape). */
export interface StaticInstance {
  id: string;
  /** `grpc://host:port` endpoints; the first grpc one is used. */
  endpoints: readonly string[];
  metadata: { color: string; weight: number };
}

/** Static instance lists keyed by discovery name; update() swaps them (a config reload). */
export class StaticDiscovery implements Discovery {
  private byName = new Map<string, readonly Instance[]>();
  private readonly listeners = new Set<(name: string) => void>();
  private closed = false;

  /**
   * @param lists discovery name -> instances as in the config.
   * @throws JanusError JANUS_ERR_REGISTRY_VALUE for an instance without a grpc://host:port endpoint.
   */
  constructor(lists: Readonly<Record<string, readonly StaticInstance[]>>) {
    this.byName = StaticDiscovery.build(lists);
  }

  private static build(lists: Readonly<Record<string, readonly StaticInstance[]>>): Map<string, readonly Instance[]> {
    const m = new Map<string, readonly Instance[]>();
    for (const [name, list] of Object.entries(lists)) {
      m.set(
        name,
        list.map((i) =>
          instanceOf(`discovery.static.${name}`, {
            id: i.id,
            name,
            version: '',
            metadata: { color: i.metadata.color, weight: String(i.metadata.weight) },
            endpoints: [...i.endpoints],
          }),
        ),
      );
    }
    return m;
  }

  instances(name: string): readonly Instance[] {
    return this.byName.get(name) ?? [];
  }

  async ready(): Promise<void> {}

  subscribe(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Replaces every list; subscribers hear of each name whose list changed. Ignored once closed.
   * @throws JanusError JANUS_ERR_REGISTRY_VALUE as the constructor (nothing is replaced then).
   */
  update(lists: Readonly<Record<string, readonly StaticInstance[]>>): void {
    if (this.closed) return;
    const next = StaticDiscovery.build(lists);
    const before = this.byName;
    this.byName = next;
    for (const name of new Set([...before.keys(), ...next.keys()])) {
      if (!sameInstances(before.get(name) ?? [], next.get(name) ?? [])) for (const fn of [...this.listeners]) fn(name);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}

/**
 * Calls `onGone(address)` for each instance address that was in the lists of `names` and no
 * longer is in any of them (so the caller can retire its connection pool). Returns the
 * unsubscribe function.
 */
export function onAddressesGone(discovery: Discovery, names: readonly string[], onGone: (address: string) => void): () => void {
  const current = (): Set<string> => {
    const s = new Set<string>();
    for (const n of names) for (const i of discovery.instances(n)) s.add(i.address);
    return s;
  };
  let known = current();
  return discovery.subscribe(() => {
    const now = current();
    for (const a of known) if (!now.has(a)) onGone(a);
    known = now;
  });
}
