/**
 * A backend that stops reading (issue 7 item 5: processing stops the moment a tunnel asks
 * to pause): the gateway stops reading that client instead of buffering its requests, and
 * delivers everything queued, in order, once the backend reads again. An honest client on
 * 127.0.0.2, served by the same backend, keeps its round trips meanwhile.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TUNNEL_PATHS, type TunnelMessage } from '@janus/protocol';
import type { ConnectionStats } from '../src/connection/connection.js';
import { callUid, discoveryAt, echo, honestClient, startRawBackend, type RawTunnelCall } from './support/bounds.js';
import { loggedIn, str, text } from './support/session.js';
import { startStack } from './support/stack.js';

const HOSTILE = 2n;

describe('a backend that stops reading', () => {
  it('holds the client (inbox held, socket paused, nothing more forwarded), then delivers everything in order on resume', async (t) => {
    // Echoes every request; the hostile uid's player stream is paused from the start
    // (grpc-js then stops reading it, and HTTP/2 flow control pushes back on the gateway).
    const paused: RawTunnelCall[] = [];
    let hostileReceived = 0;
    const player = (call: RawTunnelCall): void => {
      const hostile = callUid(call) === HOSTILE;
      call.on('error', () => {});
      call.on('end', () => call.end());
      call.on('data', (m: TunnelMessage) => {
        if (hostile) hostileReceived++;
        call.write(m);
      });
      if (hostile) {
        call.pause();
        paused.push(call);
      }
    };
    const backend = await startRawBackend({ [TUNNEL_PATHS.player]: player });
    t.after(() => backend.close());
    const inboxBytes = 16 * 1024;
    const s = await startStack({
      config: { discovery: discoveryAt(backend.port), limits: { inboxBytes, messagesPerSecond: 1e6, messageBurst: 1_000_000 } },
    });
    t.after(() => s.stop());
    const honest = await honestClient(s, 1);
    t.after(() => honest.close());
    const c = await loggedIn(s, 'tcp', Number(HOSTILE));
    t.after(() => c.close());
    const conn = s.gw.sessions.get(HOSTILE)!;

    // Pipeline far more than any window or buffer on the way holds.
    const n = 20_000;
    const sent = Array.from({ length: n }, (_, i) => c.send({ mod: 3, seq: 1, data: text(`r${i}`.padEnd(16, '.')) }));

    // Honest round trips until the hostile connection's counters stand still (held) over
    // five of them: a causal wait, no sleep.
    let prev: ConnectionStats | null = null;
    let still = 0;
    for (let i = 0; i < 2000 && still < 5; i++) {
      await echo(honest);
      const st = conn.stats();
      const same = prev !== null && st.inboxHeld && st.bodiesIn === prev.bodiesIn && st.processed === prev.processed && st.forwarded === prev.forwarded;
      still = same ? still + 1 : 0;
      prev = st;
    }
    assert.equal(still, 5, `the hostile connection settles, held (last: forwarded ${prev?.forwarded}, held ${prev?.inboxHeld}, bodies ${prev?.bodiesIn})`);
    const held = conn.stats();
    assert.equal(held.inboxHeld, true, 'a tunnel holds the inbox');
    assert.ok(held.bodiesIn < n + 2, `the gateway stopped reading: ${held.bodiesIn} of ${n + 2} bodies read`);
    assert.ok(held.forwarded < n, `forwarding stopped: ${held.forwarded} of ${n}`);
    // Nothing processed past the request whose write asked to pause (CSHandshake and CSAuth are the 2).
    assert.equal(held.processed, held.forwarded + 2, 'no body processed after the tunnel asked to pause');
    assert.equal(held.inboxBytes > 0, held.bodiesIn > held.processed, 'the unprocessed bodies are what the inbox holds');
    assert.ok(held.inboxBytes <= inboxBytes + 64 * 1024, `inbox ${held.inboxBytes} B within limits.inboxBytes plus one read`);
    assert.ok(hostileReceived <= held.forwarded);
    assert.equal(held.state, 'open');

    for (const call of paused) call.resume();
    for (let i = 0; i < n; i++) {
      const r = await c.nextPacket();
      assert.equal(r?.index, sent[i]!.index, `reply ${i} in order`);
      if (str(r?.data) !== str(sent[i]!.data)) assert.fail(`reply ${i} carries its request's data`);
    }
    const done = conn.stats();
    assert.deepEqual(
      [done.inboxHeld, done.inboxBytes, done.forwarded, done.processed, done.bodiesIn, hostileReceived],
      [false, 0, n, n + 2, n + 2, n],
    );
    await echo(c);
    await echo(honest);
  });
});
