/**
 * A backend that vanishes without RST (issue 7 item 5; PROTOCOL.md 9 "the player stream
 * ending ends the client connection"): with a proxy between the gateway and the demo
 * backend that silently stops forwarding, the backend channel's HTTP/2 keepalive PING goes
 * unanswered, the channel closes, the player tunnel fails and the client gets ServerLogout
 * Waiting, within tunnel.keepaliveMs + keepaliveTimeoutMs. Real time: gRPC's keepalive
 * timers are its own, so the test waits on events with a generous timeout.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SCServerLogout_Code as Code } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { BlackholeProxy } from './support/blackhole-proxy.js';
import { discoveryAt, echo } from './support/bounds.js';
import { loggedIn } from './support/session.js';
import { startStack } from './support/stack.js';

describe('a backend that vanishes without RST (tunnel.keepaliveMs, keepaliveTimeoutMs)', () => {
  for (const kind of ['tcp', 'ws'] as const) {
    it(`ends the ${kind} session with ServerLogout Waiting once the backend stops answering keepalive PINGs`, { timeout: 20_000 }, async (t) => {
      const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
      t.after(() => backend.destroy());
      const proxy = await BlackholeProxy.start(backend.port);
      t.after(() => proxy.close());
      const s = await startStack({
        noBackend: true,
        config: { discovery: discoveryAt(proxy.port), tunnel: { keepaliveMs: 1000, keepaliveTimeoutMs: 1000 } },
      });
      t.after(() => s.stop());
      const c = await loggedIn(s, kind, 1);
      t.after(() => c.close());

      // Keepalive runs while the player stream is open, and a PING answered keeps the session.
      await proxy.nextPingAck();
      await echo(c, 'after a keepalive round trip');
      assert.ok(proxy.pings >= 1);

      proxy.freeze();
      const acks = proxy.pingAcks;
      assert.equal(await c.expectLogout(15_000), Code.Waiting);
      assert.deepEqual(await c.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1013 });
      assert.equal(proxy.pingAcks, acks, 'no PING answered after the freeze');
      assert.ok(proxy.dropped > 0, 'the gateway kept sending into the void (its PING at least)');
      assert.equal(s.gw.sessions.get(1n), undefined);
    });
  }
});
