/**
 * Issue 11's reported faults, each reproduced on real sockets and backends: a backend
 * address whose connection never speaks HTTP/2, a reply over the gateway's gRPC receive
 * limit, the send-queue check against one large reply, wall-clock steps, and what is left of
 * a slow client's socket after the logout flush deadline.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { decodeMessage, encodePacket, makePacket, RECORD_TAG_BYTES, SCHeartbeatSchema, SCServerLogout_Code as Code, SCServerUnexpectedErrSchema, TUNNEL_PATHS, type TunnelMessage } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { discoveryAt, echo, honestClient, startRawBackend, WatchedRouteTable, type RawTunnelCall } from './support/bounds.js';
import { ManualClock } from '../src/manual-clock.js';
import { MuteBackend } from './support/mute-backend.js';
import { loggedIn, tryLogin } from './support/session.js';
import { startStack } from './support/stack.js';
import { tcpSockets } from './support/tcp-states.js';
import { makeSelfSignedCert, type TestCert } from './support/tls-cert.js';
import { RawClient } from './support/raw-client.js';

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
    // maxInflateBytes too: the gateway sends no data that inflates past it (the client's limit, assumed the same).
    const s = await startStack({ config: { limits: { maxFrameBytes: 8 << 20, maxInflateBytes: 8 << 20 } } });
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

describe('fault 5: a slow client past the logout flush deadline', () => {
  let certDir = '';
  let cert: TestCert;
  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'janus-hardening-'));
    cert = await makeSelfSignedCert(certDir, 'gateway');
  });
  after(() => rmSync(certDir, { recursive: true, force: true }));

  for (const variant of ['tcp', 'ws', 'wss'] as const) {
    it(`resets the ${variant} socket: the kernel keeps none of its unsent bytes`, { timeout: 30_000 }, async (t) => {
      const kind = variant === 'tcp' ? 'tcp' : 'ws';
      // Player seq 5 asks for 1000 pushes of 16 KiB (16 MB: more than the kernel buffers of
      // both ends hold); the client sends nothing else, so the gateway has read all it sent.
      const player = (call: RawTunnelCall): void => {
        call.on('error', () => {});
        call.on('end', () => call.end());
        call.on('data', (m: TunnelMessage) => {
          if (m.seq !== 5) return void call.write(m);
          const data = randomBytes(16 * 1024);
          for (let i = 0; i < 1000; i++) call.write({ ...m, index: 0, seq: 4, data });
        });
      };
      const backend = await startRawBackend({ [TUNNEL_PATHS.player]: player });
      t.after(() => backend.close());
      const clock = new ManualClock();
      const table = new WatchedRouteTable();
      const s = await startStack({
        noBackend: true,
        clock,
        routeTable: table,
        config: {
          discovery: discoveryAt(backend.port),
          limits: { sendQueueBytes: 64 * 1024, maxFrameBytes: 64 * 1024, compressThreshold: 1 << 20 },
          ...(variant === 'wss'
            ? { listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0, tls: { certFile: cert.certFile, keyFile: cert.keyFile } }, grpc: { host: '127.0.0.1', port: 0 } } }
            : {}),
        },
      });
      t.after(() => s.stop());
      const honest = await honestClient(s, 21);
      t.after(() => honest.close());
      const slow = await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort, ['janus.v1'], variant === 'wss' ? { ca: cert.certPem } : {});
      t.after(() => slow.close());
      await slow.handshake(s.keys.clientKey, s.keys.pins);
      slow.sendAuth(await s.token(20));
      assert.equal((await slow.nextPacket())?.seq, 5, 'SCAuth');
      const gwPort = kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort;
      const clientPort = slow.localPort;
      slow.pauseReading();
      slow.send({ mod: 3, seq: 5 });
      await table.released(20); // cut off as a slow consumer: ServerLogout queued, FIN asked for
      const before = tcpSockets(gwPort, clientPort);
      assert.equal(before.length, 1);
      assert.ok(before[0]!.sendQueue > 0, 'the client\'s window is shut: bytes wait in the gateway\'s kernel send queue');

      clock.advance(s.gw.config.timeouts.logoutFlushMs);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(tcpSockets(gwPort, clientPort), [], 'nothing left of the gateway\'s end (no FIN_WAIT1 holding the bytes)');
      // The client reads what its own kernel had taken, then its socket closes.
      slow.resumeReading();
      const ending = await slow.ending;
      if (kind === 'ws') assert.equal(ending.wsCode, 1006, 'no close frame: it was among the bytes dropped');
      await echo(honest);
    });
  }
});

describe('fault 5: maxConnections against the descriptor limit', () => {
  /** A gateway started with `maxConnections`, and the warn lines it logged at start. */
  async function startWith(t: { after(fn: () => Promise<void>): void }, maxConnections: number): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const s = await startStack({ logger: pino({ level: 'warn' }, sink), config: { limits: { maxConnections } } });
    t.after(() => s.stop());
    return lines.filter((l) => l.level === 40);
  }

  it('warns at start when maxConnections plus its own descriptors exceed ulimit -n, and not below', async (t) => {
    // The limit as the shell reports it to a child (inherited from this process).
    const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
    assert.ok(Number.isSafeInteger(limit), `ulimit -n is a number here (${limit})`);
    const over = await startWith(t, limit);
    assert.equal(over.length, 1, 'one warning');
    assert.deepEqual([over[0]!.maxConnections, over[0]!.openFileLimit], [limit, limit]);
    assert.match(String(over[0]!.msg), /ulimit -n/);
    // The stack's one static backend address: 64 reserved + 2 channels.
    const under = await startWith(t, limit - 64 - 2);
    assert.deepEqual(under, []);
  });
});
