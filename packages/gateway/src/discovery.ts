/**
 * The discovery port (PROTOCOL.md 10) and its embedded static adapter (instances listed in
 * the config file). An etcd adapter plugs in behind the same interface.
 */

/** One backend instance (Kratos registry layout). */
export interface Instance {
  id: string;
  /** `host:port` of its gRPC endpoint. */
  address: string;
  color: string;
  /** Smooth weighted round robin weight, default 100. */
  weight: number;
}

/** Where backend instances come from. */
export interface Discovery {
  /** Live instances of a discovery name (any color). */
  instances(name: string): readonly Instance[];
  /** Releases resources (watches, leases). */
  close(): Promise<void>;
}

/** One instance as the config's `discovery.static` lists it (the Kratos shape). */
export interface StaticInstance {
  id: string;
  /** `grpc://host:port` endpoints; the first is used. */
  endpoints: readonly string[];
  metadata: { color: string; weight: number };
}

/** Static instance lists keyed by discovery name. */
export class StaticDiscovery implements Discovery {
  private byName = new Map<string, Instance[]>();

  /** @param lists discovery name -> instances as in the config (`endpoints: ["grpc://host:port"]`). */
  constructor(lists: Readonly<Record<string, readonly StaticInstance[]>>) {
    this.update(lists);
  }

  /**
   * Replaces every list at once (a config reload): the next pick sees the new instances;
   * tunnels already open to a removed instance stay until they end.
   */
  update(lists: Readonly<Record<string, readonly StaticInstance[]>>): void {
    const next = new Map<string, Instance[]>();
    for (const [name, list] of Object.entries(lists)) {
      next.set(
        name,
        list.map((i) => ({ id: i.id, address: i.endpoints[0]!.slice('grpc://'.length), color: i.metadata.color, weight: i.metadata.weight })),
      );
    }
    this.byName = next;
  }

  instances(name: string): readonly Instance[] {
    return this.byName.get(name) ?? [];
  }

  async close(): Promise<void> {}
}
