/**
 * The happy path over TCP and WebSocket with the client SDK: handshake, echo, counter, a
 * room chat among three clients, an unsolicited push from the backend.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { JanusClient, type Packet } from '@janus/client';
import { str, text } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

for (const transport of ['tcp', 'ws'] as const) {
  describe(`happy path over ${transport}`, () => {
    let stack: Stack;
    const clients: JanusClient[] = [];

    before(async () => {
      stack = await startStack();
    });
    after(async () => {
      for (const c of clients) await c.close();
      await stack.stop();
    });

    async function connect(uid: number): Promise<JanusClient> {
      const c = await JanusClient.connect({
        transport,
        host: '127.0.0.1',
        port: transport === 'tcp' ? stack.gw.tcpPort : stack.gw.wsPort,
        token: await stack.token(uid, { color: '', serverId: 1n }),
        clientKeyPem: stack.keys.clientKeyPem,
        serverKeys: { 1: stack.keys.serverPubPem },
      });
      clients.push(c);
      return c;
    }

    it('handshakes, logs in and echoes exactly', async () => {
      const c = await connect(1001);
      assert.equal(c.session.uid, 1001n);
      assert.equal(c.session.sid, 1n);
      const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
      const r = await c.request(3, 1, data);
      assert.deepEqual([r.mod, r.seq, r.obj], [3, 1, 1001n]);
      assert.deepEqual(Uint8Array.from(r.data), data);
      const big = text('y'.repeat(10_000)); // compressed by the gateway, inflated by the SDK
      assert.equal(str((await c.request(3, 1, big)).data), str(big));
      const hb = await c.heartbeat();
      assert.equal(hb.code, 1);
    });

    it('keeps a per-player counter across reconnects', async () => {
      const a = await connect(1002);
      assert.deepEqual(JSON.parse(str((await a.request(3, 2)).data)), { count: 1 });
      assert.deepEqual(JSON.parse(str((await a.request(3, 2)).data)), { count: 2 });
      await a.close();
      const b = await connect(1002);
      assert.deepEqual(JSON.parse(str((await b.request(3, 2)).data)), { count: 3 });
    });

    it('carries a room chat among three clients', async () => {
      const room = 4242n;
      const [x, y, z] = await Promise.all([connect(2001), connect(2002), connect(2003)]);
      for (const [c, name] of [[x, 'x'], [y, 'y'], [z, 'z']] as const) {
        const r = await c.request(4, 1, text(JSON.stringify({ name })), { obj: room });
        assert.equal(JSON.parse(str(r.data)).room, Number(room));
      }
      const heard = [x, y, z].map(
        (c) =>
          new Promise<Packet>((resolve) => {
            const on = (p: Packet) => {
              if (p.mod === 4 && p.seq === 11) {
                c.off('push', on);
                resolve(p);
              }
            };
            c.on('push', on);
          }),
      );
      await y.request(4, 3, text(JSON.stringify({ text: 'hello room' })), { obj: room });
      for (const p of await Promise.all(heard)) {
        assert.equal(p.index, 0);
        assert.equal(p.obj, room);
        assert.deepEqual(JSON.parse(str(p.data)), { uid: 2002, name: 'y', text: 'hello room' });
      }
    });

    it('delivers an unsolicited push from the backend', async () => {
      const c = await connect(3001);
      const pushed = new Promise<[Packet]>((resolve) => c.once('push', (p) => resolve([p])));
      const ack = await c.request(3, 3, text('ping later'));
      assert.equal(ack.data.length, 0);
      const [p] = await pushed;
      assert.deepEqual([p.mod, p.seq, p.index, p.obj, str(p.data)], [3, 4, 0, 3001n, 'ping later']);
    });
  });
}
