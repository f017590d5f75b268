/**
 * The Discovery contract (test/support/discovery-contract.ts) on both adapters: the static
 * lists of the config file, and etcd (a real etcd process, test/support/etcd-server.ts).
 */
import { encodeServiceInstance, registryNamePrefix } from '@janus/protocol';
import { EtcdRegistry } from '@janus/discovery-etcd';
import { parseConfig } from '../src/config.js';
import { StaticDiscovery, type Discovery } from '../src/discovery.js';
import { discoveryContract, type SourceLists } from './support/discovery-contract.js';
import { etcdPerFile } from './support/etcd-server.js';

const staticLists = (lists: SourceLists) => parseConfig({ discovery: { static: lists } }).discovery.static;

discoveryContract('static', () => ({
  async open(_names, lists) {
    return new StaticDiscovery(staticLists(lists));
  },
  async change(d, lists) {
    (d as StaticDiscovery).update(staticLists(lists));
  },
}));

const etcd = etcdPerFile();

discoveryContract('etcd', () => {
  // Each fixture has a prefix of its own: tests share one etcd and never see each other.
  const prefix = etcd.prefix('contract');
  const write = async (lists: SourceLists): Promise<void> => {
    for (const [name, list] of Object.entries(lists)) {
      const p = registryNamePrefix(prefix, name);
      const wanted = new Set(list.map((i) => `${p}${i.id}`));
      for (const key of await etcd.raw.getAll().prefix(p).keys()) if (!wanted.has(key)) await etcd.raw.delete().key(key);
      for (const i of list) {
        const metadata: Record<string, string | number> = {};
        if (i.metadata?.color !== undefined) metadata.color = i.metadata.color;
        if (i.metadata?.weight !== undefined) metadata.weight = i.metadata.weight;
        await etcd.raw.put(`${p}${i.id}`).value(encodeServiceInstance({ id: i.id, name, version: '', metadata, endpoints: i.endpoints }));
      }
    }
  };
  return {
    async open(names, lists): Promise<Discovery> {
      await write(Object.fromEntries(names.map((n) => [n, lists[n] ?? []])));
      const registry = new EtcdRegistry({ endpoints: [etcd.server.endpoint], prefix });
      const d = registry.discovery(names);
      return {
        instances: (n) => d.instances(n),
        ready: () => d.ready(),
        subscribe: (fn) => d.subscribe(fn),
        close: () => registry.close(),
      };
    },
    change: async (_d, lists) => write(lists),
  };
});
