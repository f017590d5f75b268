/**
 * Bounds on what a hostile client can touch (issue 7 item 5; PROTOCOL.md 7.2, 8, 9), each
 * shown on the connection's own counters and on exact answers and closes, over real
 * sockets and the demo backend (or a plain gRPC one). Time that matters to a bound moves
 * only by a manual clock. In every case an honest client on 127.0.0.2 keeps being served.
 */
import { strict as assert } from 'node:assert';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import {
  decodeMessage,
  SCHeartbeat_Code,
  SCHeartbeatSchema,
  SCServerLogout_Code as Code,
  SCServerUnexpectedErrSchema,
  TUNNEL_PATHS,
  type Packet,
  type TunnelMessage,
} from '@janus/protocol';
import type { Connection } from '../src/connection/connection.js';
import { discoveryAt, echo, honestClient, HONEST_ADDRESS, startRawBackend, WatchedRouteTable, type RawTunnelCall } from './support/bounds.js';
import { ManualClock } from '../src/manual-clock.js';
import { RawClient } from './support/raw-client.js';
import { loggedIn, str, text } from './support/session.js';
import { startStack, type Stack, type StackOptions } from './support/stack.js';

async function stackFor(t: TestContext, o: StackOptions = {}): Promise<Stack> {
  const s = await startStack(o);
  t.after(() => s.stop());
  return s;
}

/** Closes the client when the test ends. */
function own<C extends RawClient>(t: TestContext, c: C): C {
  t.after(() => c.close());
  return c;
}

function session(s: Stack, uid: number): Connection {
  const conn = s.gw.sessions.get(BigInt(uid));
  assert.ok(conn, `uid ${uid} is logged in`);
  return conn;
}

function unexpectedErr(p: Packet | null): { index: number; mod: number; seq: number; msg: string } {
  assert.deepEqual([p?.mod, p?.seq], [1, 3], 'a ServerUnexpectedErr');
  const e = decodeMessage(SCServerUnexpectedErrSchema, p!.data);
  return { index: p!.index, mod: e.mod, seq: e.seq, msg: e.msg };
}

const join = (c: RawClient, room: bigint): Packet => c.send({ mod: 4, seq: 1, obj: room, data: text('{"name":"a"}') });

describe('object tunnels per connection (limits.maxObjectTunnels)', () => {
  it('a client opening objects without end: at most maxObjectTunnels open, the idlest half-closed, every request answered', async (t) => {
    const s = await stackFor(t, { config: { limits: { maxObjectTunnels: 4 } } });
    const honest = own(t, await honestClient(s, 1));
    const c = own(t, await loggedIn(s, 'tcp', 2));
    const conn = session(s, 2);
    for (let i = 1; i <= 20; i++) {
      const req = join(c, BigInt(i));
      const r = await c.nextPacket();
      assert.deepEqual([r?.mod, r?.index, JSON.parse(str(r?.data)).room], [4, req.index, i], `room ${i} answered`);
      const st = conn.stats();
      assert.ok(st.objectTunnels <= 4, `open object tunnels ${st.objectTunnels} <= 4`);
      assert.equal(st.objectTunnelsOpened, i);
      assert.equal(st.objectTunnelsEvicted, Math.max(0, i - 4), 'one evicted per object past the bound');
      assert.ok(st.closingObjectTunnels <= 4);
      if (i % 5 === 0) await echo(honest);
    }
    // Use room 18 again: it stays open, so the next new object evicts the idlest (17), not it.
    const again = join(c, 18n);
    assert.equal((await c.nextPacket())?.index, again.index);
    const next = join(c, 21n);
    assert.equal((await c.nextPacket())?.index, next.index);
    const st = conn.stats();
    assert.deepEqual([st.objectTunnels, st.objectTunnelsOpened, st.objectTunnelsEvicted], [4, 21, 17]);
    // An evicted object (room 1) is simply reopened on its next message.
    const back = join(c, 1n);
    assert.equal(JSON.parse(str((await c.nextPacket())?.data)).room, 1);
    assert.equal(back.index, next.index + 1);
    assert.deepEqual([conn.stats().objectTunnels, conn.stats().objectTunnelsOpened], [4, 22]);
    await echo(c, 'player stream untouched');
    await echo(honest);
  });

  it('refuses new objects with "too many object tunnels" once half-closed streams a backend never ends reach the bound', async (t) => {
    // A backend that answers every request but never ends a stream the gateway half-closed.
    const calls: RawTunnelCall[] = [];
    const deaf = (call: RawTunnelCall): void => {
      calls.push(call);
      call.on('data', (m: TunnelMessage) => call.write(m));
      call.on('end', () => {}); // ignores the half-close
      call.on('error', () => {});
    };
    const backend = await startRawBackend({ [TUNNEL_PATHS.player]: deaf, [TUNNEL_PATHS.room]: deaf });
    t.after(() => backend.close());
    const s = await stackFor(t, {
      config: {
        limits: { maxObjectTunnels: 4 },
        discovery: discoveryAt(backend.port),
        // Long enough that the gateway's own cancel of ignored half-closes stays out of the test.
        timeouts: { tunnelHalfCloseMs: 600_000, shutdownMs: 2000, tunnelConnectMs: 1000 },
      },
    });
    const honest = own(t, await honestClient(s, 1));
    const c = own(t, await loggedIn(s, 'tcp', 2));
    const conn = session(s, 2);
    for (let i = 1; i <= 8; i++) {
      const req = join(c, BigInt(i));
      assert.equal((await c.nextPacket())?.index, req.index, `object ${i} answered`);
    }
    let st = conn.stats();
    assert.deepEqual([st.objectTunnels, st.closingObjectTunnels, st.objectTunnelsEvicted], [4, 4, 4]);
    for (let i = 9; i <= 12; i++) {
      const req = join(c, BigInt(i));
      assert.deepEqual(unexpectedErr(await c.nextPacket()), { index: req.index, mod: 4, seq: 1, msg: 'too many object tunnels' });
    }
    st = conn.stats();
    assert.deepEqual([st.objectTunnels, st.closingObjectTunnels, st.objectTunnelsOpened, st.objectTunnelsEvicted], [4, 4, 8, 4]);
    const open = join(c, 8n);
    assert.equal((await c.nextPacket())?.index, open.index, 'objects already open are still served');
    await echo(c);
    await echo(honest);
    assert.equal(calls.length, 2 + 8, 'no stream opened for a refused object (two player streams, eight rooms)');
  });
});

describe('inflate budget (limits.inflateBytesPerSecond)', () => {
  const maxInflateBytes = 64 * 1024;
  const budget = 128 * 1024;
  const size = 60 * 1024; // each request inflates to this, just under maxInflateBytes
  const zeros = deflateSync(Buffer.alloc(size), { level: 9 });

  it('answers compressed requests past the budget with "rate limited"; inflated bytes stay within budget + one message', async (t) => {
    const clock = new ManualClock();
    const s = await stackFor(t, { clock, config: { limits: { maxInflateBytes, inflateBytesPerSecond: budget } } });
    const honest = own(t, await honestClient(s, 1));
    const c = own(t, await loggedIn(s, 'tcp', 2));
    const conn = session(s, 2);
    assert.ok(zeros.length < 200, `a ${zeros.length}-byte request inflates to ${size}`);
    const reqs = Array.from({ length: 12 }, () => c.send({ mod: 3, seq: 1, compress: true, data: zeros }));
    const got: Packet[] = [];
    for (let i = 0; i < reqs.length; i++) got.push((await c.nextPacket())!);
    got.sort((a, b) => a.index - b.index);
    const accepted = Math.ceil(budget / size); // 3: the budget is checked before, charged after
    for (const [i, p] of got.entries()) {
      assert.equal(p.index, reqs[i]!.index);
      if (i < accepted) {
        assert.equal(p.mod, 3, `request ${i} within the budget is delivered`);
        assert.equal((p.compress ? inflateSync(p.data) : Buffer.from(p.data)).length, size);
      } else {
        assert.deepEqual(unexpectedErr(p), { index: p.index, mod: 3, seq: 1, msg: 'rate limited' }, `request ${i} past the budget`);
      }
    }
    const st = conn.stats();
    assert.equal(st.inflateRefused, reqs.length - accepted);
    assert.equal(st.inflatedBytes, accepted * size);
    assert.ok(st.inflatedBytes <= budget + maxInflateBytes, 'within the budget plus one message');
    assert.equal(st.forwarded, accepted);
    assert.equal(st.state, 'open');
    // Uncompressed requests do not touch the inflate budget; the honest client has its own.
    await echo(c, 'plain');
    const h = honest.send({ mod: 3, seq: 1, compress: true, data: zeros });
    const hr = await honest.nextPacket();
    assert.deepEqual([hr?.mod, hr?.index], [3, h.index]);
    await echo(honest);
  });

  for (const kind of ['tcp', 'ws'] as const) {
    it(`still destroys a ${kind} connection at once, nothing sent, on an inflate past maxInflateBytes`, async (t) => {
      const s = await stackFor(t, { config: { limits: { maxInflateBytes, inflateBytesPerSecond: budget } } });
      const honest = own(t, await honestClient(s, 1));
      const c = own(t, await loggedIn(s, kind, 2));
      c.send({ mod: 3, seq: 1, compress: true, data: deflateSync(Buffer.alloc(maxInflateBytes + 1), { level: 9 }) });
      assert.equal(await c.nextBody(), null, 'nothing sent before the close');
      const e = await c.ending;
      if (kind === 'ws') assert.equal(e.wsCode, 1002);
      else assert.equal(s.gw.sessions.get(2n), undefined);
      await echo(honest);
    });
  }
});

describe('handshakes per second (limits.handshakesPerSecondPerAddress, handshakesPerSecond)', () => {
  /** Connects from 127.0.0.1 and completes the handshake: admitted. */
  async function admitted(t: TestContext, s: Stack, kind: 'tcp' | 'ws', localAddress = '127.0.0.1'): Promise<RawClient> {
    const c = own(t, await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort, undefined, { localAddress }));
    await c.handshake(s.keys.clientKey, s.keys.pins);
    return c;
  }

  /** Connects and expects a plaintext ServerLogout Waiting at accept, then FIN (TCP) or 1013 (WS). */
  async function refused(t: TestContext, s: Stack, kind: 'tcp' | 'ws', localAddress = '127.0.0.1'): Promise<void> {
    const c = own(t, await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort, undefined, { localAddress }));
    assert.equal(await c.expectLogout(), Code.Waiting, `refused at accept (${kind} from ${localAddress})`);
    assert.deepEqual(await c.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1013 });
  }

  it('refuses connections from one address past its burst with ServerLogout Waiting at accept; 127.0.0.2 still connects', async (t) => {
    const clock = new ManualClock();
    // 2 per second per address: a burst of 4, and no refill while the clock stands still.
    const s = await stackFor(t, { clock, config: { limits: { handshakesPerSecondPerAddress: 2 } } });
    const first = [];
    for (const kind of ['tcp', 'ws', 'tcp', 'ws'] as const) first.push(await admitted(t, s, kind));
    for (const kind of ['tcp', 'ws', 'tcp', 'ws', 'tcp', 'ws'] as const) await refused(t, s, kind);
    // Another address has its own bucket: it logs in and is served, during and after the flood.
    const honest = own(t, await honestClient(s, 1));
    await echo(honest);
    await refused(t, s, 'tcp');
    // The connections admitted before the flood are unaffected: they log in.
    const auth = first[0]!.sendAuth(await s.token(2));
    const scAuth = await first[0]!.nextPacket();
    assert.deepEqual([scAuth?.mod, scAuth?.seq, scAuth?.index], [1, 5, auth.index]);
    await echo(first[0]!);
    await echo(honest);
    // Time refills the bucket: 1 s at 2/s admits two more, not three.
    clock.advance(1000);
    await admitted(t, s, 'tcp');
    await admitted(t, s, 'ws');
    await refused(t, s, 'tcp');
    await echo(honest);
  });

  it('refuses every address once the gateway-wide handshake burst is spent', async (t) => {
    const clock = new ManualClock();
    const s = await stackFor(t, { clock, config: { limits: { handshakesPerSecond: 2, handshakesPerSecondPerAddress: 100 } } });
    const honest = own(t, await honestClient(s, 1)); // one of the 4 slots
    for (let i = 0; i < 3; i++) await admitted(t, s, 'tcp');
    await refused(t, s, 'tcp');
    await refused(t, s, 'ws', HONEST_ADDRESS);
    await echo(honest);
  });
});

describe('heartbeats per second (limits.heartbeatsPerSecond, heartbeatBurst)', () => {
  for (const kind of ['tcp', 'ws'] as const) {
    it(`answers exactly heartbeatBurst heartbeats, refuses the rest, and ends a ${kind} flood with RateLimited`, async (t) => {
      const clock = new ManualClock();
      const burst = 5;
      const strikes = 10;
      const s = await stackFor(t, { clock, config: { limits: { heartbeatsPerSecond: 1, heartbeatBurst: burst, rateLimitStrikes: strikes } } });
      const honest = own(t, await honestClient(s, 1, kind));
      const c = own(t, await loggedIn(s, kind, 2));
      const conn = session(s, 2);
      const now = (): bigint => BigInt(Math.floor(clock.now() / 1000));
      const sent = Array.from({ length: burst + strikes - 1 }, () => c.sendHeartbeat(now()));
      const got: Packet[] = [];
      for (let i = 0; i < sent.length; i++) got.push((await c.nextPacket())!);
      got.sort((a, b) => a.index - b.index);
      for (const [i, p] of got.entries()) {
        assert.equal(p.index, sent[i]!.index);
        if (i < burst) {
          assert.deepEqual([p.mod, p.seq], [1, 2], `heartbeat ${i} answered`);
          assert.equal(decodeMessage(SCHeartbeatSchema, p.data).code, SCHeartbeat_Code.Succeeded);
        } else {
          assert.deepEqual(unexpectedErr(p), { index: p.index, mod: 1, seq: 2, msg: 'rate limited' }, `heartbeat ${i} refused`);
        }
      }
      const st = conn.stats();
      assert.deepEqual([st.heartbeats, st.heartbeatsRefused, st.state], [burst, strikes - 1, 'open']);
      // Requests have their own bucket: still served one strike short of the end.
      await echo(c);
      await echo(honest);
      // The strike that reaches rateLimitStrikes within one window ends the connection.
      const last = c.sendHeartbeat(now());
      assert.deepEqual(unexpectedErr(await c.nextPacket()), { index: last.index, mod: 1, seq: 2, msg: 'rate limited' });
      assert.equal(await c.expectLogout(), Code.RateLimited);
      assert.deepEqual(await c.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1013 });
      assert.equal(conn.stats().heartbeatsRefused, strikes);
      await echo(honest);
    });
  }
});

describe('login deadline (timeouts.loginMs)', () => {
  for (const kind of ['tcp', 'ws'] as const) {
    it(`ends a ${kind} login whose route table call never answers with ServerLogout Waiting after loginMs`, async (t) => {
      const clock = new ManualClock();
      const table = new WatchedRouteTable(new Set([2n]));
      const loginMs = 3000;
      const s = await stackFor(t, { clock, routeTable: table, config: { timeouts: { loginMs, shutdownMs: 2000, tunnelConnectMs: 1000 } } });
      const honest = own(t, await honestClient(s, 1, kind));
      const c = own(t, await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort));
      await c.handshake(s.keys.clientKey, s.keys.pins);
      c.sendAuth(await s.token(2));
      await table.setReached(2);
      const conn = session(s, 2);
      clock.advance(loginMs - 1);
      await echo(honest); // a round trip through the gateway: the deadline has not fired
      assert.equal(conn.stats().state, 'authenticating');
      assert.equal(c.bodies.length, 0, 'nothing sent to the stalled login yet');
      clock.advance(1);
      assert.equal(await c.expectLogout(), Code.Waiting);
      assert.deepEqual(await c.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1013 });
      assert.equal(conn.stats().state, 'closing');
      assert.equal(s.gw.sessions.get(2n), undefined, 'the stalled login left the registry');
      await echo(honest);
    });
  }
});
