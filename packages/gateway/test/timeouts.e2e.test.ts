/**
 * Idle timeout and slow consumers (PROTOCOL.md 8, section 2 closes), driven by a manual
 * clock where time matters.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { decodeMessage, SCServerLogout_Code as Code, SCServerLogoutSchema } from '@janus/protocol';
import { ManualClock } from '../src/manual-clock.js';
import { echo, honestClient, WatchedRouteTable } from './support/bounds.js';
import { loggedIn, str, text } from './support/session.js';
import { startStack, type Stack } from './support/stack.js';

const stacks: Stack[] = [];
after(async () => {
  for (const s of stacks) await s.stop();
});

describe('idle timeout', () => {
  for (const kind of ['tcp', 'ws'] as const) {
    it(`closes a ${kind} client that sends nothing for idleTimeout, nothing sent; heartbeats keep it open`, async () => {
      const clock = new ManualClock();
      const s = await startStack({ clock });
      stacks.push(s);
      const quiet = await loggedIn(s, kind, 1);
      const chatty = await loggedIn(s, kind, 2);
      clock.advance(50_000);
      const hb = chatty.sendHeartbeat(BigInt(Math.floor(clock.now() / 1000)));
      assert.equal((await chatty.nextPacket())?.index, hb.index);
      clock.advance(10_000); // quiet: 60 s of silence
      assert.equal(await quiet.nextBody(), null, 'nothing sent before the idle close');
      assert.deepEqual(await quiet.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1000 });
      clock.advance(49_000); // chatty: 59 s since its heartbeat
      const req = chatty.send({ mod: 3, seq: 1, data: text('alive') });
      assert.equal(str((await chatty.nextPacket())?.data), 'alive');
      assert.equal(req.index, hb.index + 1);
      chatty.close();
    });
  }

  it('closes a connection that never completes the handshake, by the manual clock', async () => {
    const clock = new ManualClock();
    const s = await startStack({ clock });
    stacks.push(s);
    const { RawClient } = await import('./support/raw-client.js');
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await new Promise((r) => setImmediate(r));
    clock.advance(5_000);
    assert.equal(await c.nextBody(), null);
    assert.deepEqual(await c.ending, { fin: true });
  });
});

describe('slow consumer', () => {
  it('cuts off a client that stops reading while replies pile up; others keep working', async () => {
    const s = await startStack({ config: { limits: { sendQueueBytes: 64 * 1024, compressThreshold: 1 << 20, maxFrameBytes: 64 * 1024 } } });
    stacks.push(s);
    const witness = await loggedIn(s, 'tcp', 10);
    const slow = await loggedIn(s, 'ws', 11);
    slow.pauseReading();
    const data = randomBytes(60 * 1024);
    for (let i = 0; i < 800; i++) slow.send({ mod: 3, seq: 1, data });
    const ending = await slow.ending;
    assert.equal(typeof ending.wsCode, 'number', 'the gateway closed it');
    const req = witness.send({ mod: 3, seq: 1, data: text('fine') });
    assert.equal((await witness.nextPacket())?.index, req.index);
    witness.close();
  });

  it('sends ServerLogout Waiting behind what is already written; the queue never passes sendQueueBytes plus one frame while open', async (t) => {
    const sendQueueBytes = 64 * 1024;
    const maxFrameBytes = 64 * 1024;
    const table = new WatchedRouteTable();
    const s = await startStack({
      routeTable: table,
      config: { limits: { sendQueueBytes, compressThreshold: 1 << 20, maxFrameBytes, messagesPerSecond: 1e6, messageBurst: 1_000_000 } },
    });
    stacks.push(s);
    const honest = await honestClient(s, 13);
    t.after(() => honest.close());
    const slow = await loggedIn(s, 'tcp', 12);
    const conn = s.gw.sessions.get(12n)!;
    let released = false;
    const gone = table.released(12).then(() => {
      released = true;
      return conn.stats(); // at the cut-off: what the kernel has not taken is still queued
    });
    slow.pauseReading();
    // Replies well under the limit, so only a client that does not read can pile them up.
    const data = randomBytes(16 * 1024);
    let peak = 0;
    for (let i = 0; i < 1000 && !released; i++) {
      for (let k = 0; k < 4; k++) slow.send({ mod: 3, seq: 1, data });
      await new Promise((r) => setImmediate(r));
      const st = conn.stats();
      if (st.state === 'open') {
        // Checked before each frame is queued (bytes beyond it): at most the limit plus one framed body.
        assert.ok(st.sendQueueBytes <= sendQueueBytes + maxFrameBytes + 4, `queued ${st.sendQueueBytes} B while open`);
        peak = Math.max(peak, st.sendQueueBytes);
      }
      if (i % 20 === 0) await echo(honest);
    }
    if (!released) assert.fail('not cut off after 4000 replies of 16 KiB');
    const cut = await gone;
    assert.equal(cut.state, 'closing', 'the gateway gave up on the slow consumer');
    assert.ok(cut.sendQueueBytes > sendQueueBytes, `cut off past the limit (${cut.sendQueueBytes} B queued)`);
    assert.ok(peak > 0, 'replies queued up while it was open');
    assert.equal(s.gw.sessions.get(12n), undefined);
    await echo(honest);
    // Read now, within the 1 s flush: the replies already written, then the ServerLogout.
    slow.resumeReading();
    let replies = 0;
    for (;;) {
      const p = await slow.nextPacket();
      assert.ok(p, 'a ServerLogout ends the stream');
      if (p.mod === 1) {
        assert.equal(decodeMessage(SCServerLogoutSchema, p.data).code, Code.Waiting);
        break;
      }
      replies++;
    }
    assert.ok(replies > 0, 'replies written before the cut-off arrive first');
    assert.deepEqual(await slow.ending, { fin: true });
    await echo(honest);
  });
});
