/** The etcd test harness itself: an etcd started by a test process that dies goes with it. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';

const child = join(dirname(fileURLToPath(import.meta.url)), 'support', 'etcd-harness-child.js');

describe('etcd harness', { timeout: 30_000 }, () => {
  it('kills etcd when the test process that started it is SIGKILLed', async () => {
    const p = spawn(process.execPath, [child], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: p.stdout! }), 'line')) as [string];
    const { endpoint, dataDir } = JSON.parse(line) as { endpoint: string; dataDir: string };
    const client = new Etcd3({ hosts: endpoint });
    try {
      await client.put('alive').value('1');
      const w = await client.watch().key('alive').create();
      const disconnected = once(w, 'disconnected');
      p.kill('SIGKILL');
      await once(p, 'exit');
      // The watch stream breaks when etcd's process is gone (its sockets close with it).
      await disconnected;
      const port = Number(new URL(endpoint).port);
      const s = connect(port, '127.0.0.1');
      const [err] = (await once(s, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'ECONNREFUSED', 'nothing listens on the etcd port any more');
      void w.cancel();
    } finally {
      client.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
