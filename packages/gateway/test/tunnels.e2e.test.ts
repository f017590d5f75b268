/**
 * Tunnel lifecycle (PROTOCOL.md 9) and session rules (section 8) end to end: the demo
 * backend behind a gateway on embedded defaults.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { decodeMessage, SCServerLogout_Code as Code, SCServerUnexpectedErrSchema, SCHeartbeatSchema } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { loggedIn, str, text } from './support/session.js';
import { RawClient } from './support/raw-client.js';
import { startStack, type Stack } from './support/stack.js';

const stacks: Stack[] = [];
after(async () => {
  for (const s of stacks) await s.stop();
});
async function stack(o: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  const s = await startStack(o);
  stacks.push(s);
  return s;
}

describe('sessions', () => {
  it('answers requests pipelined right behind CSAuth in order, after SCAuth', async () => {
    const s = await stack();
    for (const kind of ['tcp', 'ws'] as const) {
      const c = await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort);
      await c.handshake(s.keys.clientKey, s.keys.pins);
      const auth = c.sendAuth(await s.token(31));
      const sent = [];
      for (let i = 0; i < 20; i++) sent.push(c.send({ mod: 3, seq: 1, data: text(`m${i}`) }));
      const hb = c.sendHeartbeat(BigInt(Math.floor(Date.now() / 1000)));
      const first = await c.nextPacket();
      assert.deepEqual([first?.mod, first?.seq, first?.index], [1, 5, auth.index], 'SCAuth comes first');
      // The gateway answers the heartbeat itself, so it may overtake backend replies;
      // the backend replies keep the requests' order.
      const got = [];
      for (let i = 0; i < sent.length + 1; i++) got.push((await c.nextPacket())!);
      const replies = got.filter((r) => r.mod === 3);
      assert.deepEqual(replies.map((r) => r.index), sent.map((r) => r.index));
      for (const [i, r] of replies.entries()) {
        assert.equal(str(r.data), str(sent[i]!.data));
        assert.equal(r.obj, 31n, 'obj 0 became the uid');
      }
      const h = got.find((r) => r.mod === 1);
      assert.deepEqual([h?.mod, h?.seq, h?.index], [1, 2, hb.index]);
      assert.equal(decodeMessage(SCHeartbeatSchema, h!.data).code, 1);
      c.close();
    }
  });

  it('answers a burst of requests in full, then a heartbeat (tunnel backpressure resumes the socket)', async () => {
    const s = await stack();
    for (const kind of ['tcp', 'ws'] as const) {
      const c = await loggedIn(s, kind, 33);
      const sent = Array.from({ length: 300 }, (_, i) => c.send({ mod: 3, seq: 1, data: text(`burst ${i}`) }));
      const got = [];
      for (let i = 0; i < sent.length; i++) got.push((await c.nextPacket())!);
      assert.deepEqual(got.map((p) => p.index), sent.map((p) => p.index));
      const hb = c.sendHeartbeat(BigInt(Math.floor(Date.now() / 1000)));
      assert.equal((await c.nextPacket())?.index, hb.index);
      c.close();
    }
  });

  it('ends a connection that floods well over its rate limit with RateLimited', async () => {
    const s = await stack({ config: { limits: { messagesPerSecond: 50, messageBurst: 50, rateLimitStrikes: 100 } } });
    const c = await loggedIn(s, 'tcp', 34);
    // About 1000 msg/s, 20 times the limit, spread out so tokens keep trickling back in.
    const logout = c.expectLogout(5000);
    for (let t = 0; t < 200 && s.gw.sessions.get(34n); t++) {
      for (let i = 0; i < 10; i++) c.send({ mod: 3, seq: 1, data: text('flood') });
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await logout, Code.RateLimited);
    assert.deepEqual(await c.ending, { fin: true });
  });

  it('answers a heartbeat with a skewed client_time with ErrTime', async () => {
    const s = await stack();
    const c = await loggedIn(s, 'tcp', 32);
    const hb = c.sendHeartbeat(BigInt(Math.floor(Date.now() / 1000) - 11));
    const h = await c.nextPacket();
    assert.equal(h?.index, hb.index);
    assert.equal(decodeMessage(SCHeartbeatSchema, h!.data).code, 2);
    c.close();
  });

  it('ends the older connection with ConflictingLogin', async () => {
    const s = await stack();
    const older = await loggedIn(s, 'tcp', 40);
    const newer = await loggedIn(s, 'ws', 40);
    assert.equal(await older.expectLogout(), Code.ConflictingLogin);
    assert.deepEqual(await older.ending, { fin: true });
    const req = newer.send({ mod: 3, seq: 1, data: text('mine') });
    assert.equal((await newer.nextPacket())?.index, req.index);
    newer.close();
  });

  it('deflates replies of compressThreshold bytes and more, inflates compressed requests', async () => {
    const s = await stack({ config: { limits: { compressThreshold: 100 } } });
    const c = await loggedIn(s, 'tcp', 41);
    const big = text('x'.repeat(5000));
    const { deflateSync, inflateSync } = await import('node:zlib');
    const req = c.send({ mod: 3, seq: 1, compress: true, data: deflateSync(big) });
    const r = await c.nextPacket();
    assert.equal(r?.index, req.index);
    assert.equal(r?.compress, true);
    assert.equal(str(inflateSync(r!.data)), str(big));
    const small = c.send({ mod: 3, seq: 1, data: text('tiny') });
    const r2 = await c.nextPacket();
    assert.deepEqual([r2?.index, r2?.compress, str(r2?.data)], [small.index, false, 'tiny']);
    c.close();
  });

  it('answers rate-limited requests with ServerUnexpectedErr, then ends a connection that stays over the limit', async () => {
    const s = await stack({ config: { limits: { messagesPerSecond: 1, messageBurst: 2, rateLimitStrikes: 3 } } });
    const c = await loggedIn(s, 'tcp', 42);
    const reqs = [0, 1, 2].map(() => c.send({ mod: 3, seq: 1, data: text('r') }));
    // The gateway's own answer may overtake the backend's replies: sort by index.
    const got = [(await c.nextPacket())!, (await c.nextPacket())!, (await c.nextPacket())!].sort((a, b) => a.index - b.index);
    assert.deepEqual(got.map((r) => [r.mod, r.index]), [[3, reqs[0]!.index], [3, reqs[1]!.index], [1, reqs[2]!.index]]);
    const limited = got[2];
    assert.deepEqual([limited?.mod, limited?.seq, limited?.index], [1, 3, reqs[2]!.index]);
    assert.equal(decodeMessage(SCServerUnexpectedErrSchema, limited!.data).msg, 'rate limited');
    c.send({ mod: 3, seq: 1 });
    c.send({ mod: 3, seq: 1 });
    assert.equal(await c.expectLogout(), Code.RateLimited);
    await c.ending;
  });
});

describe('tunnels', () => {
  it('answers a module routed to a service with no instance with ServerUnexpectedErr, connection open', async () => {
    const s = await stack({
      config: {
        services: {
          player: { path: '/player.intra.v1.TunnelService/Tunnel', discoveryName: 'roma.player.service' },
          room: { path: '/room.intra.v1.TunnelService/Tunnel', discoveryName: 'roma.room.service' },
          team: { path: '/team.intra.v1.TunnelService/Tunnel', discoveryName: 'roma.team.service' },
        },
        modules: { '3': { name: 'player', service: 'player' }, '4': { name: 'room', service: 'room' }, '5': { name: 'team', service: 'team' } },
      },
    });
    const c = await loggedIn(s, 'ws', 50);
    const req = c.send({ mod: 5, seq: 9, obj: 12n, data: text('t') });
    const e = await c.nextPacket();
    assert.deepEqual([e?.mod, e?.seq, e?.index], [1, 3, req.index]);
    const err = decodeMessage(SCServerUnexpectedErrSchema, e!.data);
    assert.deepEqual([err.mod, err.seq], [5, 9]);
    const unknown = c.send({ mod: 99, seq: 1 });
    const e2 = await c.nextPacket();
    assert.deepEqual([e2?.mod, e2?.seq, e2?.index], [1, 3, unknown.index]);
    const echo = c.send({ mod: 3, seq: 1, data: text('open') });
    assert.equal((await c.nextPacket())?.index, echo.index);
    c.close();
  });

  it('a room stream ended by the backend with an error gives ServerUnexpectedErr; the next room message reopens it', async () => {
    const s = await stack();
    const c = await loggedIn(s, 'tcp', 60);
    const join = c.send({ mod: 4, seq: 1, obj: 7n, data: text('{"name":"a"}') });
    assert.equal((await c.nextPacket())?.index, join.index);
    c.send({ mod: 4, seq: 77, obj: 7n, data: text('{}') }); // unknown seq: the demo fails the stream
    const e = await c.nextPacket();
    assert.deepEqual([e?.mod, e?.seq, e?.index], [1, 3, 0]);
    const err = decodeMessage(SCServerUnexpectedErrSchema, e!.data);
    assert.deepEqual([err.mod, err.seq], [4, 77]);
    const again = c.send({ mod: 4, seq: 1, obj: 7n, data: text('{"name":"a"}') });
    const r = await c.nextPacket();
    assert.equal(r?.index, again.index);
    assert.equal(JSON.parse(str(r?.data)).room, 7);
    c.close();
  });

  it('player backend stopped: its clients get ServerLogout Waiting; a login while it is down ends with Waiting', async () => {
    const s = await stack();
    const a = await loggedIn(s, 'tcp', 70);
    const b = await loggedIn(s, 'ws', 71);
    await s.backend!.close();
    assert.equal(await a.expectLogout(), Code.Waiting);
    assert.equal(await b.expectLogout(), Code.Waiting);
    assert.deepEqual(await b.ending, { wsCode: 1013 });
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(await s.token(72));
    assert.equal(await c.expectLogout(), Code.Waiting);
    // Back up on the same port: logins work again.
    s.backend = await startDemoBackend({ host: '127.0.0.1', port: s.backendPort });
    const d = await loggedIn(s, 'tcp', 73);
    d.close();
  });

  it('a login with no player instance for the session color ends with Waiting', async () => {
    const s = await stack();
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(await s.token(74, { color: 'green' }));
    assert.equal(await c.expectLogout(), Code.Waiting);
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, sends ServerLogout Waiting to every client (WebSocket 1001) and ends', async () => {
    const s = await startStack();
    const a = await loggedIn(s, 'tcp', 80);
    const b = await loggedIn(s, 'ws', 81);
    const closing = s.gw.close();
    assert.equal(await a.expectLogout(), Code.Waiting);
    assert.equal(await b.expectLogout(), Code.Waiting);
    assert.deepEqual(await a.ending, { fin: true });
    assert.deepEqual(await b.ending, { wsCode: 1001 });
    await closing;
    await assert.rejects(RawClient.connect('tcp', s.gw.tcpPort));
    await s.stop();
  });
});

describe('accept', () => {
  it('selects the janus.v1 subprotocol when offered, and accepts clients offering none or others', async () => {
    const s = await stack();
    for (const [offer, selected] of [[['janus.v1'], 'janus.v1'], [[], ''], [['chat', 'janus.v1'], 'janus.v1']] as const) {
      const c = await RawClient.connect('ws', s.gw.wsPort, [...offer]);
      assert.equal(c.wsProtocol, selected, `offered ${JSON.stringify(offer)}`);
      await c.handshake(s.keys.clientKey, s.keys.pins);
      c.close();
    }
    // Offering only others: the upgrade succeeds with no subprotocol (the ws client library
    // would abort such a connection itself, so look at the raw upgrade response).
    const { request } = await import('node:http');
    const res = await new Promise<{ status: number; protocol: string | undefined }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: s.gw.wsPort,
        path: '/ws',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'chat' },
      });
      req.on('upgrade', (r, socket) => {
        socket.destroy();
        resolve({ status: r.statusCode!, protocol: r.headers['sec-websocket-protocol'] });
      });
      req.on('response', (r) => resolve({ status: r.statusCode!, protocol: undefined }));
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(res, { status: 101, protocol: undefined });
  });

  it('answers ServerLogout Waiting at once on accept when over the per-address limit', async () => {
    const s = await stack({ config: { limits: { maxConnectionsPerAddress: 1 } } });
    const a = await loggedIn(s, 'tcp', 90);
    for (const kind of ['tcp', 'ws'] as const) {
      const b = await RawClient.connect(kind, kind === 'tcp' ? s.gw.tcpPort : s.gw.wsPort);
      assert.equal(await b.expectLogout(), Code.Waiting);
      assert.deepEqual(await b.ending, kind === 'tcp' ? { fin: true } : { wsCode: 1013 });
    }
    const req = a.send({ mod: 3, seq: 1, data: text('first one stays') });
    assert.equal((await a.nextPacket())?.index, req.index);
    a.close();
  });
});

describe('tunnel metadata', () => {
  it('opens the player stream at login and object streams on first use, with the section 9 metadata', async () => {
    const { TunnelServer } = await import('@janus/backend');
    const seen: { path: string; oid: bigint; uid: bigint; sid: bigint; status: number; color: string; clientIp: string; referer: string; gateReferer: string }[] = [];
    const server = new TunnelServer();
    for (const path of ['/player.intra.v1.TunnelService/Tunnel', '/room.intra.v1.TunnelService/Tunnel']) {
      server.addService(path, {
        onOpen: (ctx) => void seen.push({ path, oid: ctx.oid, uid: ctx.uid, sid: ctx.sid, status: ctx.status, color: ctx.color, clientIp: ctx.clientIp, referer: ctx.referer, gateReferer: ctx.gateReferer }),
        onMessage: (_ctx, req) => req.data,
      });
    }
    const port = await server.listen('127.0.0.1', 0);
    const instances = [{ id: 'm', endpoints: [`grpc://127.0.0.1:${port}`], metadata: { color: 'blue' } }];
    const s = await stack({ config: { discovery: { static: { 'roma.player.service': instances, 'roma.room.service': instances } } } });
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(s.keys.clientKey, s.keys.pins);
    c.sendAuth(await s.token(555, { color: 'blue', serverId: 9n }));
    assert.equal((await c.nextPacket())?.seq, 5);
    assert.equal(seen.length, 1, 'the player stream opened at login');
    const req = c.send({ mod: 4, seq: 1, obj: -8n, data: text('r') });
    assert.equal((await c.nextPacket())?.index, req.index);
    c.close();
    await server.close();
    const common = { uid: 555n, sid: 9n, status: 1, color: 'blue', clientIp: '127.0.0.1', referer: 'janus.gate.interface' };
    assert.deepEqual(seen.map(({ gateReferer: _g, ...rest }) => rest), [
      { path: '/player.intra.v1.TunnelService/Tunnel', oid: 555n, ...common },
      { path: '/room.intra.v1.TunnelService/Tunnel', oid: -8n, ...common },
    ]);
    for (const m of seen) assert.ok(m.gateReferer.startsWith(`${s.gw.gateAddress}#`) && /#\d+$/.test(m.gateReferer), m.gateReferer);
  });
});

describe('frame limit on the way out', () => {
  it('answers a reply that would exceed maxFrameBytes with ServerUnexpectedErr instead', async () => {
    const { encodePacket, makePacket } = await import('@janus/protocol');
    const s = await stack({ config: { limits: { maxFrameBytes: 4096, compressThreshold: 1 << 20 } } });
    const c = await loggedIn(s, 'tcp', 300);
    // A request record of exactly 4096 bytes: its echo adds obj (the uid), so it cannot fit.
    const overhead = encodePacket(makePacket({ mod: 3, seq: 1, index: c.index, data: new Uint8Array(4000) })).length - 4000;
    const req = c.send({ mod: 3, seq: 1, data: new Uint8Array(4096 - 16 - overhead) });
    const e = await c.nextPacket();
    assert.deepEqual([e?.mod, e?.seq, e?.index], [1, 3, req.index]);
    assert.equal(decodeMessage(SCServerUnexpectedErrSchema, e!.data).msg, 'reply too large');
    const ok = c.send({ mod: 3, seq: 1, data: text('small') });
    assert.equal((await c.nextPacket())?.index, ok.index);
    c.close();
  });
});

describe('pushes and plaintext', () => {
  it('carries an unsolicited backend push with index 0 and the backend\'s mod, seq and obj', async () => {
    const s = await stack();
    const c = await loggedIn(s, 'ws', 95);
    const req = c.send({ mod: 3, seq: 3, data: text('later') });
    const ack = await c.nextPacket();
    assert.equal(ack?.index, req.index);
    const push = await c.nextPacket();
    assert.deepEqual([push?.mod, push?.seq, push?.index, push?.obj, str(push?.data)], [3, 4, 0, 95n, 'later']);
    c.close();
  });

  it('runs plaintext sessions when configured encrypted: false', async () => {
    const s = await stack({ config: { encrypted: false } });
    const c = await RawClient.connect('tcp', s.gw.tcpPort);
    await c.handshake(null, new Map());
    assert.equal(c.sealer, null);
    const auth = c.sendAuth(await s.token(96));
    assert.equal((await c.nextPacket())?.index, auth.index);
    const req = c.send({ mod: 3, seq: 1, data: text('plain') });
    assert.equal(str((await c.nextPacket())?.data), 'plain');
    assert.equal(req.index, auth.index + 1);
    c.close();
  });
});
