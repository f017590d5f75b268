/**
 * Layout (decision 0016): the gateway and the backend SDK load the etcd client (etcd3, a
 * CommonJS package) only when etcd is configured. This file imports nothing of etcd itself.
 */
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { startStack } from './support/stack.js';

const require = createRequire(import.meta.url);
const etcd3Loaded = (): boolean => Object.keys(require.cache).some((k) => k.includes('/node_modules/etcd3/'));

describe('etcd is loaded on demand', { timeout: 20_000 }, () => {
  it('a gateway on static discovery never loads etcd3; one with discovery.etcd does, and starts while etcd is unreachable', async () => {
    const plain = await startStack();
    await plain.stop();
    assert.equal(etcd3Loaded(), false, 'static discovery: etcd3 not loaded');
    // Port 1 on loopback refuses: etcd is unreachable; the gateway starts after startWaitMs and keeps trying.
    const withEtcd = await startStack({ noBackend: true, config: { discovery: { etcd: { endpoints: ['http://127.0.0.1:1'], startWaitMs: 50, requestTimeoutMs: 200 } } } });
    try {
      assert.equal(etcd3Loaded(), true);
      assert.deepEqual(withEtcd.gw.discovery.instances('roma.player.service'), []);
    } finally {
      await withEtcd.stop();
    }
  });
});
