/**
 * Issue 11's reported faults, each reproduced on real sockets and backends: a backend
 * address whose connection never speaks HTTP/2, a reply over the gateway's gRPC receive
 * limit, the send-queue check against one large reply, wall-clock steps, and what is left of
 * a slow client's socket after the logout flush deadline.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { decodeMessage, encodePacket, makePacket, RECORD_TAG_BYTES, SCHeartbeatSchema, SCServerLogout_Code as Code, SCServerUnexpectedErrSchema, TUNNEL_PATHS, type TunnelMessage } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { discoveryAt, echo, startRawBackend, type RawTunnelCall } from './support/bounds.js';
import { ManualClock } from './support/manual-clock.js';
import { MuteBackend } from './support/mute-backend.js';
import { loggedIn, tryLogin } from './support/session.js';
import { startStack } from './support/stack.js';

describe('fault 1: a backend address whose connection never speaks HTTP/2', () => {
  it('fails logins within tunnelConnectMs, and once a healthy backend holds the address every login succeeds', { timeout: 30_000 }, async (t) => {
    const mute = await MuteBackend.start();
    t.after(() => mute.close());
    const tunnelConnectMs = 500;
    const s = await startStack({
      noBackend: true,
      config: { discovery: discoveryAt(mute.port), timeouts: { tunnelConnectMs, loginMs: 3000, shutdownMs: 2000 } },
    });
    t.after(() => s.stop());

    // Two logins at once: each channel of the pool (tunnel.channelsPerInstance 2) meets the mute backend.
    const t0 = performance.now();
    const first = await Promise.all([tryLogin(s, 'tcp', 1), tryLogin(s, 'ws', 2)]);
    const waited = performance.now() - t0;
    assert.deepEqual(first.map((r) => r.logout), [Code.Waiting, Code.Waiting], 'no player stream: ServerLogout Waiting');
    assert.equal(mute.acceptedCount, 2, 'one TCP connection per channel');
    assert.ok(waited < tunnelConnectMs + 1000, `answered after ${Math.round(waited)} ms, not at the login deadline`);

    // A healthy backend takes over the address; the mute connections stay open.
    mute.stopListening();
    const backend = await startDemoBackend({ host: '127.0.0.1', port: mute.port });
    t.after(() => backend.destroy());

    // Logins come back by themselves: once the reconnect backoff has passed, every one succeeds.
    let consecutive = 0;
    let attempts = 0;
    const t1 = performance.now();
    while (consecutive < 6) {
      attempts++;
      assert.ok(performance.now() - t1 < 5000, `no 6 logins in a row within 5 s (${attempts} attempts)`);
      const r = await tryLogin(s, attempts % 2 ? 'tcp' : 'ws', 100 + attempts);
      if (r.client) {
        await echo(r.client, `login ${attempts}`);
        r.client.close();
        consecutive++;
      } else {
        assert.equal(r.logout, Code.Waiting);
        consecutive = 0;
      }
    }
  });
});

describe('fault 2: a reply over the gateway\'s gRPC receive limit', () => {
  for (const kind of ['tcp', 'ws'] as const) {
    it(`is answered ServerUnexpectedErr "reply too large" with its index (${kind}); the player stream and the session stay`, async (t) => {
      // Player seq 2 answers with a reply of 3 MiB of data (over max(maxFrameBytes, maxInflateBytes) + 1 KiB),
      // and an oversized push before it; anything else is echoed.
      const player = (call: RawTunnelCall): void => {
        call.on('error', () => {});
        call.on('end', () => call.end());
        call.on('data', (m: TunnelMessage) => {
          if (m.seq === 2) {
            call.write({ ...m, index: 0, seq: 3, data: Buffer.alloc(3 << 20, 1) });
            call.write({ ...m, data: Buffer.alloc(3 << 20, 2) });
          } else {
            call.write(m);
          }
        });
      };
      const backend = await startRawBackend({ [TUNNEL_PATHS.player]: player });
      t.after(() => backend.close());
      const s = await startStack({ noBackend: true, config: { discovery: discoveryAt(backend.port) } });
      t.after(() => s.stop());
      const c = await loggedIn(s, kind, 7);
      t.after(() => c.close());
      const req = c.send({ mod: 3, seq: 2, data: Buffer.from('big please') });
      const e = await c.nextPacket();
      assert.deepEqual([e?.mod, e?.seq, e?.index], [1, 3, req.index], 'ServerUnexpectedErr with the request\'s index (the oversized push is dropped)');
      const err = decodeMessage(SCServerUnexpectedErrSchema, e!.data);
      assert.deepEqual([err.mod, err.seq, err.msg], [3, 2, 'reply too large']);
      await echo(c, 'the same player stream goes on');
      assert.ok(s.gw.sessions.get(7n), 'still logged in');
    });
  }
});

describe('fault 3: one large reply and the send-queue limit', () => {
  for (const kind of ['tcp', 'ws'] as const) {
    it(`delivers a reply of exactly maxFrameBytes to a ${kind} client that reads, with sendQueueBytes = maxFrameBytes`, async (t) => {
      const maxFrameBytes = 256 * 1024;
      const s = await startStack({ config: { limits: { maxFrameBytes, sendQueueBytes: maxFrameBytes, compressThreshold: 1 << 20 } } });
      t.after(() => s.stop());
      const c = await loggedIn(s, kind, 8);
      t.after(() => c.close());
      // The echo carries obj = the uid: pick the data length that makes its record exactly maxFrameBytes.
      const index = c.index;
      const replyBytes = (n: number): number => encodePacket(makePacket({ mod: 3, seq: 1, obj: 8n, index, data: new Uint8Array(n) })).length + RECORD_TAG_BYTES;
      let n = maxFrameBytes - 64;
      while (replyBytes(n + 1) <= maxFrameBytes) n++;
      assert.equal(replyBytes(n), maxFrameBytes);
      const data = randomBytes(n);
      const req = c.send({ mod: 3, seq: 1, data });
      const r = await c.nextPacket();
      assert.deepEqual([r?.mod, r?.seq, r?.index], [3, 1, req.index], 'the reply, not a ServerLogout');
      assert.ok(Buffer.from(data).equals(Buffer.from(r!.data)));
      await echo(c, 'and the session goes on');
    });
  }

  it('the demo backend takes a request as large as an 8 MiB frame limit allows, and its echo comes back', async (t) => {
    const s = await startStack({ config: { limits: { maxFrameBytes: 8 << 20 } } });
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 9);
    t.after(() => c.close());
    const data = randomBytes(5 << 20);
    const req = c.send({ mod: 3, seq: 1, data });
    const r = await c.nextPacket(20_000);
    assert.deepEqual([r?.mod, r?.seq, r?.index], [3, 1, req.index], 'the echo, not a ServerLogout');
    assert.equal(r?.compress, true, 'deflated on the way out (over compressThreshold)');
    assert.ok(inflateSync(r!.data).equals(data));
  });
});

describe('fault 4: the wall clock steps; timers and intervals run on monotonic time', () => {
  const HOUR = 3600_000;

  for (const kind of ['tcp', 'ws'] as const) {
    it(`closes a silent ${kind} session at idleMs after the wall clock stepped back an hour`, async (t) => {
      const clock = new ManualClock();
      const s = await startStack({ clock });
      t.after(() => s.stop());
      const quiet = await loggedIn(s, kind, 1);
      t.after(() => quiet.close());
      clock.advance(30_000);
      clock.stepWall(-HOUR);
      clock.advance(30_000);
      assert.equal(await quiet.nextBody(), null, 'closed at 60 s of silence, nothing sent');
      assert.deepEqual(await quiet.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1000 });
    });
  }

  it('keeps sessions that heartbeated seconds before a one-hour forward step; server_time follows the wall clock', async (t) => {
    const clock = new ManualClock();
    const s = await startStack({ clock });
    t.after(() => s.stop());
    const clients = await Promise.all([1, 2, 3].map((uid) => loggedIn(s, uid % 2 ? 'tcp' : 'ws', uid)));
    t.after(() => clients.forEach((c) => c.close()));
    clock.advance(55_000);
    for (const c of clients) {
      const hb = c.sendHeartbeat(BigInt(Math.floor(clock.now() / 1000)));
      assert.equal((await c.nextPacket())?.index, hb.index);
    }
    clock.stepWall(HOUR);
    clock.advance(50_000); // 50 s since the heartbeats; the login's idle timer (60 s) fired after the step
    for (const c of clients) {
      // The client's clock stepped too: its heartbeat is on time by the wall clock.
      const hb = c.sendHeartbeat(BigInt(Math.floor(clock.now() / 1000)));
      const r = await c.nextPacket();
      assert.equal(r?.index, hb.index, 'still open');
      const body = decodeMessage(SCHeartbeatSchema, r!.data);
      assert.deepEqual([body.code, body.serverTime], [1, BigInt(Math.floor(clock.now() / 1000))]);
    }
  });

  it('refills the message bucket by elapsed monotonic time after the wall clock stepped back', async (t) => {
    const clock = new ManualClock();
    const s = await startStack({ clock, config: { limits: { messagesPerSecond: 1, messageBurst: 2 } } });
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 4);
    t.after(() => c.close());
    await echo(c, 'one');
    await echo(c, 'two');
    clock.stepWall(-HOUR);
    clock.advance(2_000);
    await echo(c, 'three: two tokens back after 2 s');
    await echo(c, 'four');
  });
});
