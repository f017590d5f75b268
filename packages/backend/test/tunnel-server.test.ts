import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, TUNNEL_PATHS, isJanusError, utf8, type TunnelMessage } from '@janus/protocol';
import {
  TUNNEL_METADATA_KEYS,
  TunnelServer,
  TunnelTestClient,
  tunnelMetadata,
  type TunnelContext,
  type TunnelHandlers,
  type TunnelServerOptions,
} from '../src/index.js';

const PATH = TUNNEL_PATHS.player;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A server serving `handlers` at PATH on a free port, and a client; both closed after the test. */
async function setup(
  t: TestContext,
  handlers: TunnelHandlers,
  opts: TunnelServerOptions = {},
): Promise<{ server: TunnelServer; client: TunnelTestClient; port: number }> {
  const server = new TunnelServer(opts).addService(PATH, handlers);
  const port = await server.listen('127.0.0.1', 0);
  const client = new TunnelTestClient(`127.0.0.1:${port}`);
  t.after(() => {
    client.close();
    server.destroy();
  });
  return { server, client, port };
}

const echo: TunnelHandlers = { onMessage: (_ctx, req) => req.data };

/** Resolves once `cond()` holds, polling on the event loop (no fixed delay). */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('stream metadata reaches the context: all eight keys', async (t) => {
  const opened = deferred<TunnelContext>();
  const { client } = await setup(t, { onOpen: (ctx) => opened.resolve(ctx), onMessage: () => undefined });
  const s = client.open(PATH, {
    oid: 9007199254740993n,
    uid: -5n,
    sid: 77n,
    status: 3,
    color: 'blue',
    clientIp: '203.0.113.9',
    referer: 'janus.gate.interface',
    gateReferer: '10.0.0.1:19100#42',
  });
  const ctx = await opened.promise;
  assert.equal(ctx.oid, 9007199254740993n);
  assert.equal(ctx.uid, -5n);
  assert.equal(ctx.sid, 77n);
  assert.equal(ctx.status, 3);
  assert.equal(ctx.color, 'blue');
  assert.equal(ctx.clientIp, '203.0.113.9');
  assert.equal(ctx.referer, 'janus.gate.interface');
  assert.equal(ctx.gateReferer, '10.0.0.1:19100#42');
  assert.deepEqual(ctx.metadata.get(TUNNEL_METADATA_KEYS.gateReferer), ['10.0.0.1:19100#42']);
  assert.equal(ctx.closed, false);
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
  assert.equal(ctx.closed, true);
});

test('optional metadata keys default to 0 and empty strings', async (t) => {
  const opened = deferred<TunnelContext>();
  const { client } = await setup(t, { onOpen: (ctx) => opened.resolve(ctx), onMessage: () => undefined });
  const md = new grpc.Metadata();
  md.set(TUNNEL_METADATA_KEYS.oid, '1');
  md.set(TUNNEL_METADATA_KEYS.uid, '2');
  const s = client.open(PATH, md);
  const ctx = await opened.promise;
  assert.deepEqual(
    [ctx.oid, ctx.uid, ctx.sid, ctx.status, ctx.color, ctx.clientIp, ctx.referer, ctx.gateReferer],
    [1n, 2n, 0n, 0, '', '', '', ''],
  );
  s.end();
  await s.status;
});

test('reply defaults copy mod, seq, index and obj; extra fields override', async (t) => {
  const { client } = await setup(t, {
    onMessage(ctx, req) {
      if (req.seq === 1) return req.data;
      if (req.seq === 2) return { data: utf8('init'), seq: 20, dataVersion: 9n, ver: 4 };
      ctx.reply(req, utf8('explicit'), { obj: 5n, connId: 6 });
      return undefined;
    },
  });
  const s = client.open(PATH, { oid: 10n, uid: 10n });
  const data = new Uint8Array([0, 1, 2, 255]);
  s.send({ mod: 3, seq: 1, index: 41, obj: 99n, data, connId: 7, fragId: 1, fragCount: 2, fragIndex: 1, ver: 2 });
  s.send({ mod: 3, seq: 2, index: 42, obj: 99n });
  s.send({ mod: 3, seq: 3, index: 43, obj: 99n });
  const [a, b, c] = await s.take(3);
  assert.deepEqual(a, {
    data,
    dataVersion: 0n,
    obj: 99n,
    mod: 3,
    seq: 1,
    index: 41,
    connId: 0,
    fragId: 0,
    fragCount: 0,
    fragIndex: 0,
    ver: 0,
  } satisfies TunnelMessage);
  assert.deepEqual([b!.mod, b!.seq, b!.index, b!.obj, b!.dataVersion, b!.ver], [3, 20, 42, 99n, 9n, 4]);
  assert.deepEqual(b!.data, utf8('init'));
  assert.deepEqual([c!.mod, c!.seq, c!.index, c!.obj, c!.connId], [3, 3, 43, 5n, 6]);
  assert.deepEqual(c!.data, utf8('explicit'));
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
});

test('push has index 0 and obj = the stream oid by default', async (t) => {
  const { client } = await setup(t, {
    onMessage(ctx, req) {
      ctx.push({ mod: 4, seq: 10, data: req.data });
      ctx.push({ mod: 4, seq: 11, obj: 3n, index: 99 });
      return undefined;
    },
  });
  const s = client.open(PATH, { oid: 7n, uid: 1n });
  s.send({ mod: 4, seq: 1, index: 5, data: utf8('x') });
  const [p1, p2] = await s.take(2);
  assert.deepEqual([p1!.mod, p1!.seq, p1!.index, p1!.obj], [4, 10, 0, 7n]);
  assert.deepEqual(p1!.data, utf8('x'));
  assert.deepEqual([p2!.mod, p2!.seq, p2!.index, p2!.obj, p2!.data.length], [4, 11, 0, 3n, 0]);
  s.end();
  await s.status;
});

test('replies keep request order with async handlers of random delays, one at a time', async (t) => {
  let running = 0;
  let maxRunning = 0;
  const { client } = await setup(t, {
    async onMessage(_ctx, req) {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)));
      running--;
      // Every third request is handled synchronously-in-effect (no reply), the rest reply.
      return req.index % 3 === 0 ? undefined : req.data;
    },
  });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  const n = 60;
  for (let i = 1; i <= n; i++) s.send({ mod: 3, seq: 1, index: i, data: utf8(String(i)) });
  s.end();
  const expected = [];
  for (let i = 1; i <= n; i++) if (i % 3 !== 0) expected.push(i);
  const got = await s.take(expected.length);
  assert.deepEqual(
    got.map((m) => m.index),
    expected,
  );
  assert.deepEqual(
    got.map((m) => new TextDecoder().decode(m.data)),
    expected.map(String),
  );
  assert.equal(maxRunning, 1);
  assert.equal((await s.status).code, grpc.status.OK);
});

test('a handler that throws ends the stream with INTERNAL and its message; later requests are dropped', async (t) => {
  const closes: bigint[] = [];
  const handled: number[] = [];
  const { client, server } = await setup(t, {
    onMessage(_ctx, req) {
      handled.push(req.index);
      if (req.index === 2) throw new Error('boom at 2');
      return req.data;
    },
    onClose: (ctx) => closes.push(ctx.oid),
  });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  for (let i = 1; i <= 4; i++) s.send({ mod: 3, seq: 1, index: i, data: utf8('d') });
  assert.equal((await s.next()).index, 1);
  const st = await s.status;
  assert.equal(st.code, grpc.status.INTERNAL);
  assert.equal(st.details, 'boom at 2');
  assert.equal(s.pending, 0);
  assert.deepEqual(closes, [1n]);
  await until(() => server.streamCount === 0, 'stream released');
  assert.ok(!handled.includes(3) && !handled.includes(4), `handled ${handled.join()}`);
});

test('an async handler that rejects ends the stream with INTERNAL; so does a failing onOpen', async (t) => {
  const { client } = await setup(t, {
    onOpen(ctx) {
      if (ctx.oid === 2n) throw new Error('cannot open 2');
    },
    async onMessage() {
      await Promise.resolve();
      throw new Error('rejected');
    },
  });
  const a = client.open(PATH, { oid: 1n, uid: 1n });
  a.send({ mod: 3, seq: 1, index: 1 });
  assert.deepEqual(await a.status.then((s) => [s.code, s.details]), [grpc.status.INTERNAL, 'rejected']);
  const b = client.open(PATH, { oid: 2n, uid: 1n });
  assert.deepEqual(await b.status.then((s) => [s.code, s.details]), [grpc.status.INTERNAL, 'cannot open 2']);
});

test('a handler result that is neither bytes nor { data } fails the stream with INTERNAL', async (t) => {
  const { client } = await setup(t, { onMessage: () => ({ text: 'oops' }) as unknown as Uint8Array });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  s.send({ mod: 3, seq: 1, index: 1 });
  const st = await s.status;
  assert.equal(st.code, grpc.status.INTERNAL);
  assert.match(st.details, /neither a Uint8Array nor/);
});

test('ctx.fail sends the given status; ctx.end sends OK after the replies already written', async (t) => {
  const { client } = await setup(t, {
    onMessage(ctx, req) {
      if (req.seq === 9) {
        ctx.fail(grpc.status.FAILED_PRECONDITION, 'not now');
        assert.equal(ctx.reply(req, utf8('late')), false);
        assert.equal(ctx.push({ mod: 1, seq: 1 }), false);
        return utf8('ignored');
      }
      ctx.reply(req, utf8('last'));
      ctx.end();
      return undefined;
    },
  });
  const a = client.open(PATH, { oid: 1n, uid: 1n });
  a.send({ mod: 3, seq: 9, index: 1 });
  const sa = await a.status;
  assert.deepEqual([sa.code, sa.details, a.pending], [grpc.status.FAILED_PRECONDITION, 'not now', 0]);
  const b = client.open(PATH, { oid: 2n, uid: 1n });
  b.send({ mod: 3, seq: 1, index: 1 });
  assert.deepEqual((await b.next()).data, utf8('last'));
  assert.equal((await b.status).code, grpc.status.OK);
});

test('client half-close: pending requests are answered, then the server ends the stream with OK and onClose runs once', async (t) => {
  let closes = 0;
  const gate = deferred();
  const { client, server } = await setup(t, {
    async onMessage(_ctx, req) {
      await gate.promise;
      return req.data;
    },
    onClose: () => closes++,
  });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  s.send({ mod: 3, seq: 1, index: 1, data: utf8('a') });
  s.send({ mod: 3, seq: 1, index: 2, data: utf8('b') });
  s.end();
  await until(() => server.streamCount === 1, 'stream accepted');
  gate.resolve();
  assert.deepEqual(
    (await s.take(2)).map((m) => m.index),
    [1, 2],
  );
  assert.equal((await s.status).code, grpc.status.OK);
  await until(() => server.streamCount === 0, 'stream released');
  assert.equal(closes, 1);
});

test('client cancel closes the context and runs onClose once', async (t) => {
  let closes = 0;
  const opened = deferred<TunnelContext>();
  const { client, server } = await setup(t, {
    onOpen: (ctx) => opened.resolve(ctx),
    onMessage: () => undefined,
    onClose: () => closes++,
  });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  const ctx = await opened.promise;
  s.cancel();
  await until(() => ctx.closed, 'context closed');
  assert.equal(server.streamCount, 0);
  assert.equal(closes, 1);
  assert.equal(ctx.push({ mod: 3, seq: 4 }), false);
});

test('missing or malformed oid/uid metadata fails the stream with INVALID_ARGUMENT before any handler', async (t) => {
  let opened = 0;
  const { client, server } = await setup(t, { onOpen: () => void opened++, onMessage: () => undefined });
  const cases: Array<[Record<string, string>, string]> = [
    [{ [TUNNEL_METADATA_KEYS.uid]: '1' }, 'missing x-md-global-oid'],
    [{ [TUNNEL_METADATA_KEYS.oid]: '1' }, 'missing x-md-global-uid'],
    [{ [TUNNEL_METADATA_KEYS.oid]: '1x', [TUNNEL_METADATA_KEYS.uid]: '1' }, 'malformed x-md-global-oid'],
    [{ [TUNNEL_METADATA_KEYS.oid]: '1', [TUNNEL_METADATA_KEYS.uid]: '9223372036854775808' }, 'malformed x-md-global-uid'],
    [{ [TUNNEL_METADATA_KEYS.oid]: '1', [TUNNEL_METADATA_KEYS.uid]: '' }, 'malformed x-md-global-uid'],
    [{ [TUNNEL_METADATA_KEYS.oid]: '1', [TUNNEL_METADATA_KEYS.uid]: '1', [TUNNEL_METADATA_KEYS.status]: '2147483648' }, 'malformed x-md-global-status'],
    [{ [TUNNEL_METADATA_KEYS.oid]: '1', [TUNNEL_METADATA_KEYS.uid]: '1', [TUNNEL_METADATA_KEYS.sid]: '0x10' }, 'malformed x-md-global-sid'],
  ];
  for (const [pairs, prefix] of cases) {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(pairs)) md.set(k, v);
    const s = client.open(PATH, md);
    s.send({ mod: 3, seq: 1, index: 1 });
    const st = await s.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT, prefix);
    assert.ok(st.details.startsWith(prefix), `${st.details} should start with ${prefix}`);
  }
  assert.equal(opened, 0);
  assert.equal(server.streamCount, 0);
  const min = client.open(PATH, { oid: -(1n << 63n), uid: (1n << 63n) - 1n });
  min.end();
  assert.equal((await min.status).code, grpc.status.OK);
});

test('close() ends every open stream with OK, runs onClose, refuses new work, and is idempotent', async (t) => {
  const closed: bigint[] = [];
  const { client, server } = await setup(t, { ...echo, onClose: (ctx) => closed.push(ctx.oid) });
  const streams = [1n, 2n, 3n].map((oid) => client.open(PATH, { oid, uid: oid }));
  for (const s of streams) s.send({ mod: 3, seq: 1, index: 1, data: utf8('hi') });
  for (const s of streams) assert.deepEqual((await s.next()).data, utf8('hi'));
  assert.equal(server.streamCount, 3);
  const closing = server.close();
  assert.equal(server.close(), closing);
  assert.equal(server.streamCount, 0);
  assert.deepEqual(closed, [1n, 2n, 3n]);
  for (const s of streams) assert.equal((await s.status).code, grpc.status.OK);
  await closing;
  await assert.rejects(server.listen('127.0.0.1', 0), (err) => isJanusError(err, ErrorCode.ConnectionClosed));
  assert.throws(() => server.addService(TUNNEL_PATHS.room, echo), (err) => isJanusError(err, ErrorCode.ConnectionClosed));
});

test('destroy() cuts open streams: onClose runs and the client sees an error status', async (t) => {
  let closes = 0;
  const { client, server } = await setup(t, { ...echo, onClose: () => closes++ });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  s.send({ mod: 3, seq: 1, index: 1 });
  await s.next();
  server.destroy();
  server.destroy();
  assert.equal(closes, 1);
  assert.equal(server.streamCount, 0);
  assert.notEqual((await s.status).code, grpc.status.OK);
  await server.close();
});

test('close() waits for a peer that keeps its side open; destroy() then settles it', async (t) => {
  const { server, port } = await setup(t, echo);
  // A bare HTTP/2 peer that never half-closes: the server's status alone does not finish the stream.
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const req = session.request({
    ':method': 'POST',
    ':path': PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    [TUNNEL_METADATA_KEYS.oid]: '1',
    [TUNNEL_METADATA_KEYS.uid]: '1',
  });
  req.on('error', () => {});
  const headers = new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
  await until(() => server.streamCount === 1, 'stream accepted');
  const goaway = new Promise((r) => session.once('goaway', r));
  let settled = false;
  const closing = server.close().then(() => (settled = true));
  // Trailers-only response: the OK status arrives in the headers.
  assert.equal((await headers)['grpc-status'], '0');
  await goaway;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(settled, false);
  server.destroy();
  await closing;
});

test('many concurrent streams over one connection, each with its own context and order', async (t) => {
  const { client, server } = await setup(t, {
    async onMessage(ctx, req) {
      if (req.index % 2 === 0) await new Promise((r) => setImmediate(r));
      return utf8(`${ctx.oid}:${req.index}`);
    },
  });
  const n = 200;
  const per = 5;
  const streams = Array.from({ length: n }, (_, i) => client.open(PATH, { oid: BigInt(i + 1), uid: BigInt(i + 1) }));
  for (const s of streams) for (let k = 1; k <= per; k++) s.send({ mod: 3, seq: 1, index: k });
  await until(() => server.streamCount === n, `${n} open streams`);
  const results = await Promise.all(streams.map((s) => s.take(per)));
  results.forEach((msgs, i) => {
    assert.deepEqual(
      msgs.map((m) => new TextDecoder().decode(m.data)),
      Array.from({ length: per }, (_, k) => `${i + 1}:${k + 1}`),
    );
  });
  for (const s of streams) s.end();
  const statuses = await Promise.all(streams.map((s) => s.status));
  assert.ok(statuses.every((st) => st.code === grpc.status.OK));
  await until(() => server.streamCount === 0, 'all streams released');
});

test('one server serves several paths; each stream goes to its own handlers', async (t) => {
  const server = new TunnelServer()
    .addService(TUNNEL_PATHS.player, { onMessage: () => utf8('player') })
    .addService(TUNNEL_PATHS.room, { onMessage: () => utf8('room') });
  const port = await server.listen('127.0.0.1', 0);
  const client = new TunnelTestClient(`127.0.0.1:${port}`);
  t.after(() => {
    client.close();
    server.destroy();
  });
  const p = client.open(TUNNEL_PATHS.player, { oid: 1n, uid: 1n });
  const r = client.open(TUNNEL_PATHS.room, { oid: 7n, uid: 1n });
  p.send({ mod: 3, seq: 1 });
  r.send({ mod: 4, seq: 1 });
  assert.deepEqual((await p.next()).data, utf8('player'));
  assert.deepEqual((await r.next()).data, utf8('room'));
  const other = client.open('/other.v1.TunnelService/Tunnel', { oid: 1n, uid: 1n });
  assert.equal((await other.status).code, grpc.status.UNIMPLEMENTED);
  p.end();
  r.end();
  await Promise.all([p.status, r.status]);
  await server.close();
});

test('configuration errors are JanusError JANUS_ERR_CONFIG_INVALID', async (t) => {
  const isConfig = (err: unknown): boolean => isJanusError(err, ErrorCode.ConfigInvalid);
  assert.throws(() => new TunnelServer({ maxPendingRequests: 0 }), isConfig);
  assert.throws(() => new TunnelServer({ maxPendingRequests: 1.5 }), isConfig);
  const server = new TunnelServer();
  t.after(() => server.destroy());
  server.addService(PATH, echo);
  assert.throws(() => server.addService(PATH, echo), isConfig);
  assert.throws(() => server.addService('player/Tunnel', echo), isConfig);
  assert.throws(() => server.addService('/a.B/C', {} as TunnelHandlers), isConfig);
  await assert.rejects(server.listen('127.0.0.1', 70000), isConfig);
  await assert.rejects(server.listen('127.0.0.1', -1), isConfig);
  const port = await server.listen('127.0.0.1', 0);
  const second = new TunnelServer().addService(PATH, echo);
  t.after(() => second.destroy());
  await assert.rejects(second.listen('127.0.0.1', port), isConfig);
});

test('tunnelMetadata writes every key as a decimal string or text', () => {
  const md = tunnelMetadata({
    oid: 1n,
    uid: 2n,
    sid: 3n,
    status: 4,
    color: 'c',
    clientIp: '::1',
    referer: 'janus.gate.interface',
    gateReferer: 'h:1#2',
  });
  assert.deepEqual(md.getMap(), {
    'x-md-global-oid': '1',
    'x-md-global-uid': '2',
    'x-md-global-sid': '3',
    'x-md-global-status': '4',
    'x-md-global-color': 'c',
    'x-md-global-client-ip': '::1',
    'x-md-global-referer': 'janus.gate.interface',
    'x-md-global-gate-referer': 'h:1#2',
  });
});

/** A bare HTTP/2 request to the server (what grpc-js would not send), answered headers and trailers. */
async function rawCall(
  port: number,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | Buffer[] | null,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | null; replyBytes: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    req.on('error', () => {});
    const response = new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
    const trailers = new Promise<http2.IncomingHttpHeaders | null>((r) => {
      req.once('trailers', r);
      req.once('close', () => r(null));
    });
    let replyBytes = 0;
    req.on('data', (d: Buffer) => (replyBytes += d.length));
    if (Array.isArray(body)) {
      // One write per turn: each chunk its own DATA frame.
      for (const chunk of body) {
        req.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
      req.end();
    } else {
      req.end(body ?? undefined);
    }
    return { headers: await response, trailers: await trailers, replyBytes };
  } finally {
    session.destroy();
  }
}

/** One gRPC message frame (flag 0, u32be length), built independently of the code under test. */
function frame(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

test('the server answers what is not a tunnel call: unknown path, not a gRPC POST, compression', async (t) => {
  const { client, port } = await setup(t, echo);
  const unknown = client.open('/other.v1.Service/Tunnel', { oid: 1n, uid: 1n });
  const su = await unknown.status;
  assert.deepEqual([su.code, su.details], [grpc.status.UNIMPLEMENTED, `the server does not implement the method /other.v1.Service/Tunnel (served: ${PATH})`]);
  const md = { [TUNNEL_METADATA_KEYS.oid]: '1', [TUNNEL_METADATA_KEYS.uid]: '1' };
  assert.equal((await rawCall(port, { ...md, ':method': 'GET' }, null)).headers[':status'], 405);
  assert.equal((await rawCall(port, { ...md, 'content-type': 'application/json' }, null)).headers[':status'], 415);
  const gz = await rawCall(port, { ...md, 'grpc-encoding': 'gzip' }, null);
  assert.equal(gz.headers['grpc-status'], String(grpc.status.UNIMPLEMENTED));
});

test('a request over maxRequestBytes ends its stream RESOURCE_EXHAUSTED; an undecodable one INTERNAL; others go on', async (t) => {
  const { client, port } = await setup(t, echo, { maxRequestBytes: 100 });
  const big = client.open(PATH, { oid: 1n, uid: 1n });
  big.send({ mod: 3, seq: 1, index: 1, data: new Uint8Array(200) });
  const sb = await big.status;
  assert.equal(sb.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(sb.details, /over the limit of 100 bytes/);
  const md = { [TUNNEL_METADATA_KEYS.oid]: '2', [TUNNEL_METADATA_KEYS.uid]: '2' };
  // Field 1 (data) as a length-delimited field claiming 50 bytes, with 1 present.
  const bad = await rawCall(port, md, frame(Buffer.from([0x0a, 50, 1])));
  assert.equal(bad.trailers?.['grpc-status'] ?? bad.headers['grpc-status'], String(grpc.status.INTERNAL));
  const ok = client.open(PATH, { oid: 3n, uid: 3n });
  ok.send({ mod: 3, seq: 1, index: 1, data: utf8('fine') });
  assert.deepEqual((await ok.next()).data, utf8('fine'));
});

test('status details are sent well-formed: a lone surrogate arrives as U+FFFD', async (t) => {
  const { client } = await setup(t, {
    onMessage(ctx) {
      ctx.fail(grpc.status.NOT_FOUND, 'bad \uD800 text');
    },
  });
  const s = client.open(PATH, { oid: 1n, uid: 1n });
  s.send({ mod: 3, seq: 1, index: 1 });
  const st = await s.status;
  assert.deepEqual([st.code, st.details], [grpc.status.NOT_FOUND, 'bad \uFFFD text']);
});

test('close() or destroy() while listen() is binding: listen rejects JANUS_ERR_CONNECTION_CLOSED and nothing stays listening', async () => {
  const listeners = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
  // Earlier tests' servers finish closing first.
  await until(() => listeners() === 0, 'earlier servers closed');
  for (const stop of ['close', 'destroy'] as const) {
    const server = new TunnelServer().addService(PATH, echo);
    const listening = server.listen('127.0.0.1', 0);
    await Promise.resolve();
    const stopped = stop === 'close' ? server.close() : (server.destroy(), Promise.resolve());
    await assert.rejects(listening, (e: unknown) => isJanusError(e, ErrorCode.ConnectionClosed));
    await stopped;
    // Nothing of this server is left listening (its handle goes in the loop's close phase).
    await until(() => listeners() === 0, `${stop}: the listening handle closed`);
  }
});

test('an oversized request is refused at its length prefix; a body that ends inside a message ends INTERNAL', async (t) => {
  const { port } = await setup(t, echo, { maxRequestBytes: 2048 });
  const md = { [TUNNEL_METADATA_KEYS.oid]: '1', [TUNNEL_METADATA_KEYS.uid]: '1' };
  // Only the prefix of a 256 MiB message, the stream left open: the status comes without its bytes.
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', ...md });
  req.on('error', () => {});
  const head = Buffer.alloc(5);
  head.writeUInt32BE(256 * 1024 * 1024, 1);
  req.write(head);
  const response = await new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
  assert.equal(response['grpc-status'], String(grpc.status.RESOURCE_EXHAUSTED));
  assert.match(decodeURIComponent(String(response['grpc-message'])), /message of 268435456 bytes is over the limit of 2048 bytes/);
  // A message cut short by the end of the body.
  const cut = await rawCall(port, md, frame(Buffer.alloc(100)).subarray(0, 50));
  assert.equal(cut.headers['grpc-status'], String(grpc.status.INTERNAL));
  assert.match(decodeURIComponent(String(cut.headers['grpc-message'])), /ended inside a message/);
  // Two messages sent a byte per DATA frame (prefixes split too) are joined and both answered.
  const two = Buffer.concat([frame(Buffer.from([0x0a, 3, 0x61, 0x62, 0x63, 0x20, 1])), frame(Buffer.from([0x20, 2]))]);
  const split = await rawCall(port, md, [...two].map((b) => Buffer.from([b])));
  assert.equal(split.trailers?.['grpc-status'], '0');
  const one = await rawCall(port, md, two);
  assert.equal(split.replyBytes, one.replyBytes, 'the same replies as when sent in one piece');
  assert.ok(one.replyBytes > 10, String(one.replyBytes));
});
