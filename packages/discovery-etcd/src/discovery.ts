/**
 * Instances of a set of discovery names, watched in etcd (PROTOCOL.md 10), cached in memory
 * so routing never waits on etcd: with etcd unreachable the last list keeps serving.
 *
 * Design, per name:
 *   list the prefix `{prefix}/{name}/` (a consistent snapshot at revision R), replace the
 *   cache with it, then watch the prefix from R + 1, applying puts and deletes.
 *   The watch stream breaks (etcd down or restarting) or is cancelled (its start revision
 *   was compacted away) -> drop that watch and start over with a new list after a jittered
 *   backoff. Listing again, rather than resuming the old watch, also covers an etcd that
 *   came back with a fresh data dir (its revisions start again at 1).
 * A value that is not a usable ServiceInstance is left out (logged once per revision).
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { decodeServiceInstance, instanceOf, registryNamePrefix, sameInstances, type Instance } from '@janus/protocol';
import type { EtcdOptions } from '@janus/protocol';
import { describe } from './registration.js';
import { Backoff, holdingProcess, type Log, type Timers } from './timers.js';

interface NameState {
  readonly name: string;
  readonly prefix: string;
  /** etcd key -> instance. */
  byKey: Map<string, Instance>;
  list: readonly Instance[];
  watcher: Watcher | null;
  timer: unknown;
  /** Bumped on every restart, so callbacks of an abandoned list or watch are ignored. */
  generation: number;
  listed: boolean;
  readonly backoff: Backoff;
}

/** Called after the instance list of `name` changed. */
export type DiscoveryListener = (name: string) => void;

/**
 * Watches instances of `names` under the registry prefix. Structurally the gateway's
 * Discovery port (packages/gateway/src/discovery.ts). Build it with
 * {@link EtcdRegistry.discovery}.
 */
export class EtcdDiscovery {
  private readonly states = new Map<string, NameState>();
  private readonly listeners = new Set<DiscoveryListener>();
  private readonly readyWaiters: (() => void)[] = [];
  private closed = false;
  /** Full listings done so far, over all names (1 per name at start, more after reconnects). */
  listings = 0;

  /** @internal use EtcdRegistry.discovery */
  constructor(
    private readonly client: Etcd3,
    private readonly o: EtcdOptions,
    names: readonly string[],
    private readonly timers: Timers,
    private readonly log: Log,
  ) {
    for (const name of new Set(names)) {
      const s: NameState = {
        name,
        prefix: registryNamePrefix(o.prefix, name),
        byKey: new Map(),
        list: [],
        watcher: null,
        timer: null,
        generation: 0,
        listed: false,
        backoff: new Backoff(o.backoffMinMs, o.backoffMaxMs),
      };
      this.states.set(name, s);
      void this.sync(s);
    }
  }

  /** The cached live instances of `name` (any color); [] for a name not watched. */
  instances(name: string): readonly Instance[] {
    return this.states.get(name)?.list ?? [];
  }

  /**
   * Resolves once every name has been listed once (it may never, while etcd is
   * unreachable), or at close(); the process stays alive while a caller waits.
   */
  ready(): Promise<void> {
    if (this.allListed()) return Promise.resolve();
    return holdingProcess(new Promise((resolve) => this.readyWaiters.push(resolve)));
  }

  /** Calls `fn(name)` after each change of a name's list; returns the unsubscribe function. */
  subscribe(fn: DiscoveryListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private allListed(): boolean {
    for (const s of this.states.values()) if (!s.listed) return false;
    return true;
  }

  private async sync(s: NameState): Promise<void> {
    if (this.closed) return;
    const gen = ++s.generation;
    let res;
    try {
      res = await this.client.getAll().prefix(s.prefix).exec();
    } catch (err) {
      if (gen !== s.generation || this.closed) return;
      // One warning per outage, not one per retry.
      if (s.backoff.streak === 0) this.log.warn({ name: s.name, err: describe(err) }, 'etcd list failed; serving the cached instances, retrying');
      this.retry(s);
      return;
    }
    if (gen !== s.generation || this.closed) return;
    if (s.backoff.streak > 0) this.log.info({ name: s.name, failures: s.backoff.streak }, 'etcd listed again');
    this.listings++;
    const byKey = new Map<string, Instance>();
    for (const kv of res.kvs) {
      const inst = this.decode(kv);
      if (inst) byKey.set(kv.key.toString(), inst);
    }
    s.byKey = byKey;
    this.publish(s);
    if (!s.listed) {
      s.listed = true;
      if (this.allListed()) for (const w of this.readyWaiters.splice(0)) w();
    }
    this.watch(s, gen, BigInt(res.header.revision) + 1n);
  }

  private watch(s: NameState, gen: number, fromRevision: bigint): void {
    const w = this.client.watch().prefix(s.prefix).startRevision(fromRevision.toString()).watcher();
    s.watcher = w;
    const current = (): boolean => gen === s.generation && !this.closed;
    w.on('put', (kv: IKeyValue) => {
      if (!current()) return;
      const inst = this.decode(kv);
      const key = kv.key.toString();
      if (inst) s.byKey.set(key, inst);
      else if (!s.byKey.delete(key)) return;
      this.publish(s);
    });
    w.on('delete', (kv: IKeyValue) => {
      if (current() && s.byKey.delete(kv.key.toString())) this.publish(s);
    });
    w.on('connected', () => {
      if (current()) s.backoff.reset();
    });
    const restart = (why: string) => (err: unknown) => {
      if (!current()) return;
      if (s.backoff.streak === 0) this.log.warn({ name: s.name, err: describe(err) }, `etcd watch ${why}; serving the cached instances, listing again`);
      this.retry(s);
    };
    w.on('disconnected', restart('lost'));
    // A cancelled watch (e.g. its start revision compacted away) ends with 'error'.
    w.on('error', restart('cancelled'));
  }

  /** Drops the watch of `s` and lists again after the next backoff delay. */
  private retry(s: NameState): void {
    s.generation++;
    this.dropWatch(s);
    if (s.timer !== null) this.timers.clearTimeout(s.timer);
    s.timer = this.timers.setTimeout(() => {
      s.timer = null;
      void this.sync(s);
    }, s.backoff.next());
  }

  private dropWatch(s: NameState): void {
    const w = s.watcher;
    s.watcher = null;
    if (w) void w.cancel().catch(() => {});
  }

  private decode(kv: IKeyValue): Instance | null {
    const key = kv.key.toString();
    try {
      return instanceOf(key, decodeServiceInstance(key, kv.value.toString()));
    } catch (err) {
      this.log.warn({ key, modRevision: kv.mod_revision, err: describe(err) }, 'etcd registry value left out');
      return null;
    }
  }

  private publish(s: NameState): void {
    const next = [...s.byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, i]) => i);
    if (sameInstances(s.list, next)) return;
    s.list = next;
    for (const fn of [...this.listeners]) fn(s.name);
  }

  /** Stops every watch and retry timer; the cached lists stay readable. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.states.values()) {
      s.generation++;
      if (s.timer !== null) this.timers.clearTimeout(s.timer);
      s.timer = null;
      this.dropWatch(s);
    }
    this.listeners.clear();
    // Nobody waits on a closed discovery (its cached lists stay readable).
    for (const w of this.readyWaiters.splice(0)) w();
  }
}
