/**
 * JanusClient against a small fake gateway built, in this file, from the protocol
 * package's server-side functions (decodeClientHello / checkClientHello / createServerHello,
 * RecordOpener / RecordSealer, openToken) over real sockets on 127.0.0.1, port 0, for both
 * transports.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  checkClientHello,
  createServerHello,
  CSAuthSchema,
  CSHeartbeatSchema,
  decodeClientHello,
  decodeMessage,
  decodePacket,
  encodeFrame,
  encodeMessage,
  encodePacket,
  ErrorCode,
  FrameDecoder,
  heartbeatReplyPacket,
  isJanusError,
  makePacket,
  openToken,
  RecordOpener,
  RecordSealer,
  SCAuthSchema,
  SCHeartbeat_Code,
  SCServerLogout_Code,
  sealToken,
  serverLogoutPacket,
  serverUnexpectedErrPacket,
  utf8,
  type Packet,
  type ServerHandshakeConfig,
  webCrypto,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { JanusClient, loadNobleCrypto, type ClientEvents, type ClientOptions, type CloseReason, type ReconnectingEvent, type HeartbeatReply, type Session, type StateChange } from '../src/index.js';

// ---------------------------------------------------------------------------------------
// Keys and tokens

function ed25519Pems(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const CLIENT_KEY = ed25519Pems();
const SERVER_KEY = ed25519Pems();
const OTHER_SERVER_KEY = ed25519Pems();
const TOKEN_KEY = new Uint8Array(randomBytes(32));
const UID = 42n;
const SID = 7n;
const COLOR = 'blue';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function token(timeoutFromNow = 3600): Promise<string> {
  return sealToken(nodeCrypto, TOKEN_KEY, { accountId: UID, serverId: SID, color: COLOR, timeout: BigInt(nowSeconds() + timeoutFromNow) });
}

// ---------------------------------------------------------------------------------------
// The fake gateway

type TransportKind = 'tcp' | 'ws';

interface FakeOptions {
  transport: TransportKind;
  /** Default true. */
  encrypted?: boolean;
  /** Sign SCHandshake with a key the client does not pin. */
  wrongServerKey?: boolean;
  /** Answer the CSHandshake with this plaintext ServerLogout. */
  helloLogout?: SCServerLogout_Code;
  /** Never answer the CSHandshake. */
  silent?: boolean;
  /** Answer CSHeartbeat (default true). */
  answerHeartbeats?: boolean;
  /** Push this Packet right behind SCAuth. */
  pushAfterAuth?: Packet;
  /** Allowed handshake clock skew (s), default 300. */
  handshakeSkew?: number;
  /** Answer the CSAuth of connection `fromConn` (0-based) and later ones with this ServerLogout, as if the token no longer opened. */
  authLogout?: { fromConn: number; code: SCServerLogout_Code };
}

/** One body pipe of the fake, over a TCP socket or a WebSocket. */
interface Pipe {
  send(body: Uint8Array): void;
  /** Orderly close: TCP end, or WebSocket close with `wsCode` (default 1000). */
  end(wsCode?: number): void;
  destroy(): void;
  onBody(cb: (body: Uint8Array) => void): void;
  readonly closed: Promise<void>;
  /** TCP only: bytes straight onto the socket, no framing. */
  writeRaw?(bytes: Uint8Array): void;
}

function tcpPipe(socket: Socket): Pipe {
  let cb: (body: Uint8Array) => void = () => {};
  const decoder = new FrameDecoder(1 << 20, (body) => cb(Uint8Array.from(body)));
  socket.on('data', (chunk) => decoder.push(chunk));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => {});
  return {
    send: (body) => void socket.write(encodeFrame(body, 1 << 20)),
    end: () => void socket.end(),
    destroy: () => void socket.destroy(),
    onBody: (f) => (cb = f),
    closed,
    writeRaw: (b) => void socket.write(b),
  };
}

function wsPipe(ws: WebSocket): Pipe {
  let cb: (body: Uint8Array) => void = () => {};
  ws.on('message', (data: Buffer) => cb(new Uint8Array(data)));
  ws.on('error', () => {});
  const closed = once(ws, 'close').then(() => {});
  return {
    send: (body) => ws.send(body),
    end: (wsCode = 1000) => ws.close(wsCode),
    destroy: () => ws.terminate(),
    onBody: (f) => (cb = f),
    closed,
  };
}

/** The server side of one client connection. */
class FakeConn {
  startIndex = 0;
  /** SCAuth.server_time sent. */
  serverTime = 0n;
  /** Every index that was not start_index + k. */
  readonly indexErrors: string[] = [];
  /** The CSHandshake's timestamp. */
  helloTimestamp = 0n;
  private expectedIndex = 0;
  private state: 'hello' | 'auth' | 'open' = 'hello';
  private sealer: RecordSealer<true> | null = null;
  private opener: RecordOpener<true> | null = null;
  private readonly inbox: Packet[] = [];
  private waiters: Array<(p: Packet) => void> = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly pipe: Pipe,
    private readonly gw: FakeGateway,
  ) {
    pipe.onBody((body) => {
      this.chain = this.chain.then(() => this.onBody(body)).catch((err) => {
        gw.errors.push(err);
        pipe.destroy();
      });
    });
  }

  /** The next Packet the client sent after CSAuth (heartbeats included). */
  next(): Promise<Packet> {
    const p = this.inbox.shift();
    if (p) return Promise.resolve(p);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Sends a Packet (sealed when encrypted). */
  send(p: Packet): void {
    const bytes = encodePacket(p);
    this.pipe.send(this.sealer ? this.sealer.seal(bytes) : bytes);
  }

  /** Sends a raw body as it is (tests of the client's checks). */
  sendRaw(body: Uint8Array): void {
    this.pipe.send(body);
  }

  /** Answers `req` with `data`. */
  reply(req: Packet, data: Uint8Array, fields: Partial<Packet> = {}): void {
    this.send(makePacket({ mod: req.mod, seq: req.seq, index: req.index, data, ...fields }));
  }

  /** ServerLogout (as a record once encrypted), then an orderly close. */
  logout(code: SCServerLogout_Code, serverTime = nowSeconds()): void {
    this.send(serverLogoutPacket(code, serverTime));
    this.pipe.end(code === SCServerLogout_Code.Unauthorized || code === SCServerLogout_Code.TokenExpired ? 1008 : 1000);
  }

  private async onBody(body: Uint8Array): Promise<void> {
    const o = this.gw.opts;
    if (this.state === 'hello') {
      const hs = decodeClientHello(body);
      this.helloTimestamp = hs.timestamp;
      if (o.silent) return;
      const code = o.helloLogout ?? (await checkClientHello(this.gw.hsConfig, hs, nowSeconds()));
      if (code !== null) {
        this.pipe.send(encodePacket(serverLogoutPacket(code, nowSeconds())));
        this.pipe.end(1008);
        return;
      }
      const sh = await createServerHello(this.gw.hsConfig, { csBody: body, hs, timestamp: BigInt(nowSeconds()), startIndex: this.gw.pickStartIndex() });
      if (sh.keys) {
        this.sealer = new RecordSealer(nodeCrypto.aeadKey(sh.keys.s2cKey), sh.keys.s2cIv);
        this.opener = new RecordOpener(nodeCrypto.aeadKey(sh.keys.c2sKey), sh.keys.c2sIv);
      }
      this.startIndex = sh.startIndex;
      this.expectedIndex = sh.startIndex;
      this.state = 'auth';
      this.pipe.send(sh.body);
      return;
    }
    const p = decodePacket(this.opener ? this.opener.open(body) : body);
    if (p.index !== this.expectedIndex) this.indexErrors.push(`got index ${p.index}, expected ${this.expectedIndex}`);
    this.expectedIndex++;
    if (this.state === 'auth') {
      assert.equal(p.mod, 1);
      assert.equal(p.seq, 5);
      const t = decodeMessage(CSAuthSchema, p.data).token;
      if (o.authLogout && this.gw.conns.indexOf(this) >= o.authLogout.fromConn) {
        this.logout(o.authLogout.code);
        return;
      }
      let fields;
      try {
        fields = await openToken(nodeCrypto, [TOKEN_KEY], t, nowSeconds());
      } catch (err) {
        this.logout(isJanusError(err, ErrorCode.TokenExpired) ? SCServerLogout_Code.TokenExpired : SCServerLogout_Code.Unauthorized);
        return;
      }
      this.serverTime = BigInt(nowSeconds());
      const data = encodeMessage(SCAuthSchema, { uid: fields.accountId, sid: fields.serverId, color: fields.color, serverTime: this.serverTime });
      this.state = 'open';
      this.send(makePacket({ mod: 1, seq: 5, index: p.index, data }));
      if (o.pushAfterAuth) this.send(o.pushAfterAuth);
      return;
    }
    if (p.mod === 1 && p.seq === 2 && o.answerHeartbeats !== false) {
      decodeMessage(CSHeartbeatSchema, p.data);
      this.send(heartbeatReplyPacket(p.index, nowSeconds(), SCHeartbeat_Code.Succeeded));
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(p);
    else this.inbox.push(p);
  }
}

/** A fake gateway on 127.0.0.1, port 0. */
class FakeGateway {
  readonly conns: FakeConn[] = [];
  readonly errors: unknown[] = [];
  readonly hsConfig: ServerHandshakeConfig;
  port = 0;
  private taken = 0;
  private readonly arrivals = new EventEmitter();
  private tcp: Server | null = null;
  private wss: WebSocketServer | null = null;
  private nextStart = 1000;

  private constructor(readonly opts: FakeOptions) {
    const serverKey = opts.wrongServerKey ? OTHER_SERVER_KEY.priv : SERVER_KEY.priv;
    this.hsConfig = {
      crypto: nodeCrypto,
      encrypted: opts.encrypted ?? true,
      clientKeys: new Map([[1, nodeCrypto.importVerifyKey(CLIENT_KEY.pub)]]),
      serverKeys: new Map([[1, nodeCrypto.importSigningKey(serverKey)]]),
      handshakeSkew: opts.handshakeSkew ?? 300,
    };
  }

  /** Starts a gateway that is stopped after the test. */
  static async start(t: TestContext, opts: FakeOptions): Promise<FakeGateway> {
    const gw = new FakeGateway(opts);
    await gw.listen();
    t.after(() => gw.stop());
    return gw;
  }

  /** A distinct start_index per connection, so a new session is visible. */
  pickStartIndex(): number {
    this.nextStart += 1000;
    return this.nextStart;
  }

  /** The next connection not yet taken by a test. */
  async nextConn(): Promise<FakeConn> {
    while (this.conns.length <= this.taken) await once(this.arrivals, 'conn');
    return this.conns[this.taken++]!;
  }

  /** Client options pointing here. */
  async clientOptions(extra: Partial<ClientOptions> = {}): Promise<ClientOptions> {
    const base: ClientOptions = {
      transport: this.opts.transport,
      host: '127.0.0.1',
      port: this.port,
      token: await token(),
    };
    if (this.opts.encrypted !== false) {
      base.clientKeyPem = CLIENT_KEY.priv;
      base.serverKeys = { 1: SERVER_KEY.pub };
    } else {
      base.encrypted = false;
    }
    return { ...base, ...extra };
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.pipe.destroy();
    if (this.tcp) {
      const server = this.tcp;
      this.tcp = null;
      await new Promise((resolve) => server.close(resolve));
    }
    if (this.wss) {
      const server = this.wss;
      this.wss = null;
      await new Promise((resolve) => server.close(resolve));
    }
  }

  private accept(pipe: Pipe): void {
    this.conns.push(new FakeConn(pipe, this));
    this.arrivals.emit('conn');
  }

  private async listen(): Promise<void> {
    if (this.opts.transport === 'tcp') {
      this.tcp = createServer((socket) => this.accept(tcpPipe(socket)));
      this.tcp.listen(0, '127.0.0.1');
      await once(this.tcp, 'listening');
      this.port = (this.tcp.address() as AddressInfo).port;
    } else {
      this.wss = new WebSocketServer({
        host: '127.0.0.1',
        port: 0,
        path: '/ws',
        perMessageDeflate: false,
        handleProtocols: (protocols) => (protocols.has('janus.v1') ? 'janus.v1' : false),
      });
      this.wss.on('connection', (ws) => this.accept(wsPipe(ws)));
      await once(this.wss, 'listening');
      this.port = (this.wss.address() as AddressInfo).port;
    }
  }
}

/** The arguments of the client's next `name` event. */
function onceEvent<K extends keyof ClientEvents>(client: JanusClient, name: K): Promise<ClientEvents[K]> {
  return new Promise((resolve) => client.once(name, ((...args: ClientEvents[K]) => resolve(args)) as never));
}

/** Connects a client that is closed after the test. */
async function connect(t: TestContext, opts: ClientOptions): Promise<JanusClient> {
  const client = await JanusClient.connect(opts);
  t.after(() => client.close());
  return client;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    assert.ok(isJanusError(err), `expected a JanusError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.details as Record<string, unknown>;
  }
  assert.fail(`expected a rejection with ${code}`);
}

const bytes = (s: string): Uint8Array => utf8(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// ---------------------------------------------------------------------------------------
// Tests, once per transport

for (const transport of ['tcp', 'ws'] as const) {
  describe(`JanusClient over ${transport}`, () => {
    it('connects and authenticates: the session comes from SCAuth and SCHandshake', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const before = nowSeconds();
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      assert.deepEqual(client.session, { uid: UID, sid: SID, color: COLOR, serverTime: conn.serverTime, startIndex: conn.startIndex });
      assert.equal(client.closed, false);
      assert.ok(conn.helloTimestamp >= BigInt(before) && conn.helloTimestamp <= BigInt(nowSeconds()));
      assert.deepEqual(conn.indexErrors, []);
      assert.deepEqual(gw.errors, []);
    });

    it('matches replies to requests by index when answered out of order', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      const calls = [0, 1, 2, 3].map((i) => client.request(3, 10 + i, bytes(`q${i}`), { obj: 5n + BigInt(i), ver: 2 }));
      const reqs = [await conn.next(), await conn.next(), await conn.next(), await conn.next()];
      assert.deepEqual(
        reqs.map((r) => [r.mod, r.seq, text(r.data), r.obj, r.ver]),
        [0, 1, 2, 3].map((i) => [3, 10 + i, `q${i}`, 5n + BigInt(i), 2]),
      );
      for (const i of [2, 0, 3, 1]) conn.reply(reqs[i]!, bytes(`a${i}`));
      const replies = await Promise.all(calls);
      assert.deepEqual(
        replies.map((r) => [r.seq, text(r.data), r.index]),
        [0, 1, 2, 3].map((i) => [10 + i, `a${i}`, conn.startIndex + 1 + i]),
      );
      assert.deepEqual(conn.indexErrors, []);
    });

    it('numbers every packet start_index + k, heartbeats included', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      const r1 = client.request(3, 1);
      const hb = client.heartbeat();
      const r2 = client.request(4, 1, undefined, { dataVersion: 9n });
      const got = [await conn.next(), await conn.next(), await conn.next()];
      assert.deepEqual(
        got.map((p) => [p.mod, p.seq, p.index]),
        [
          [3, 1, conn.startIndex + 1],
          [1, 2, conn.startIndex + 2],
          [4, 1, conn.startIndex + 3],
        ],
      );
      assert.equal(got[2]!.dataVersion, 9n);
      const reply = await hb;
      assert.equal(reply.code, SCHeartbeat_Code.Succeeded);
      assert.ok(reply.serverTime >= BigInt(nowSeconds() - 5));
      conn.reply(got[0]!, bytes('x'));
      conn.reply(got[2]!, bytes('y'));
      assert.equal(text((await r1).data), 'x');
      assert.equal(text((await r2).data), 'y');
      assert.deepEqual(conn.indexErrors, []);
    });

    it("emits 'push' for index 0, including one that arrives right behind SCAuth", async (t) => {
      const early = makePacket({ mod: 8, seq: 1, data: bytes('welcome') });
      const gw = await FakeGateway.start(t, { transport, pushAfterAuth: early });
      const client = await connect(t, await gw.clientOptions());
      const pushes: Packet[] = [];
      client.on('push', (p: Packet) => pushes.push(p));
      const conn = await gw.nextConn();
      const [first] = (await onceEvent(client, 'push')) as [Packet];
      assert.equal(text(first.data), 'welcome');
      conn.send(makePacket({ mod: 7, seq: 3, obj: 99n, data: bytes('chat') }));
      await onceEvent(client, 'push');
      assert.deepEqual(
        pushes.map((p) => [p.mod, p.seq, p.obj, p.index, text(p.data)]),
        [
          [8, 1, 0n, 0, 'welcome'],
          [7, 3, 99n, 0, 'chat'],
        ],
      );
    });

    it('rejects the request answered by ServerUnexpectedErr, and reports index 0 as serverError', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      const ok = client.request(3, 1);
      const failing = client.request(4, 2);
      const [a, b] = [await conn.next(), await conn.next()];
      conn.send(serverUnexpectedErrPacket(b.index, 4, 2, 'no instance'));
      conn.reply(a, bytes('fine'));
      const details = await rejectsWith(failing, ErrorCode.ServerUnexpected);
      assert.deepEqual(details, { mod: 4, seq: 2, msg: 'no instance' });
      assert.equal(text((await ok).data), 'fine');
      conn.send(serverUnexpectedErrPacket(0, 4, 9, 'stream failed'));
      const [ev] = await onceEvent(client, 'serverError');
      assert.deepEqual(ev, { mod: 4, seq: 9, msg: 'stream failed' });
    });

    it('ServerLogout closes with its code and rejects pending requests', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      const pending = rejectsWith(client.request(3, 1), ErrorCode.ConnectionClosed);
      await conn.next();
      const closing = onceEvent(client, 'close');
      conn.logout(SCServerLogout_Code.AdminKickOut);
      const [reason] = (await closing) as [CloseReason];
      assert.deepEqual(reason, { kind: 'logout', code: SCServerLogout_Code.AdminKickOut, name: 'AdminKickOut' });
      const details = await pending;
      assert.equal(details.logoutCode, SCServerLogout_Code.AdminKickOut);
      assert.equal(client.closed, true);
      await rejectsWith(client.request(3, 1), ErrorCode.ConnectionClosed);
    });

    it('rejects connect with JANUS_ERR_LOGOUT when the handshake is answered by ServerLogout', async (t) => {
      const gw = await FakeGateway.start(t, { transport, helloLogout: SCServerLogout_Code.Waiting });
      const details = await rejectsWith(JanusClient.connect(await gw.clientOptions()), ErrorCode.Logout);
      assert.equal(details.logoutCode, SCServerLogout_Code.Waiting);
    });

    it('rejects connect with BadVersion when it pins a server key version the gateway lacks', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const opts = await gw.clientOptions({ serverKeys: { 1: SERVER_KEY.pub, 2: OTHER_SERVER_KEY.pub }, serverCertVersion: 2 });
      const details = await rejectsWith(JanusClient.connect(opts), ErrorCode.Logout);
      assert.equal(details.logoutCode, SCServerLogout_Code.BadVersion);
    });

    it('rejects connect with TokenExpired sent as a record after CSAuth', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const opts = await gw.clientOptions({ token: await token(-10) });
      const details = await rejectsWith(JanusClient.connect(opts), ErrorCode.Logout);
      assert.equal(details.logoutCode, SCServerLogout_Code.TokenExpired);
    });

    it('rejects connect when the server signature does not verify under the pinned key', async (t) => {
      const gw = await FakeGateway.start(t, { transport, wrongServerKey: true });
      await rejectsWith(JanusClient.connect(await gw.clientOptions()), ErrorCode.HandshakeInvalid);
      const conn = await gw.nextConn();
      await conn.pipe.closed; // the client closed the connection
    });

    it('rejects connect after connectTimeoutMs when the gateway never answers', async (t) => {
      const gw = await FakeGateway.start(t, { transport, silent: true });
      const details = await rejectsWith(JanusClient.connect(await gw.clientOptions({ connectTimeoutMs: 100 })), ErrorCode.HandshakeTimeout);
      assert.equal(details.connectTimeoutMs, 100);
      await (await gw.nextConn()).pipe.closed;
    });

    it('inflates a compressed reply and compresses large requests', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ compressThreshold: 100 }));
      const conn = await gw.nextConn();
      const big = bytes('abc'.repeat(1000));
      const call = client.request(3, 1, big);
      const small = client.request(3, 2, bytes('tiny'));
      const req = await conn.next();
      assert.equal(req.compress, true);
      assert.deepEqual(new Uint8Array(inflateSync(req.data)), big);
      const req2 = await conn.next();
      assert.equal(req2.compress, false);
      const payload = bytes('xyz'.repeat(5000));
      conn.reply(req, new Uint8Array(deflateSync(payload)), { compress: true });
      const reply = await call;
      assert.equal(reply.compress, false);
      assert.deepEqual(new Uint8Array(reply.data), payload);
      conn.reply(req2, bytes('t'));
      await small;
    });

    it('closes with JANUS_ERR_INFLATE when compressed data inflates past maxInflateBytes', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ maxInflateBytes: 1000 }));
      const conn = await gw.nextConn();
      const pending = rejectsWith(client.request(3, 1), ErrorCode.ConnectionClosed);
      const req = await conn.next();
      const closing = onceEvent(client, 'close');
      conn.reply(req, new Uint8Array(deflateSync(new Uint8Array(100_000))), { compress: true });
      const [reason] = (await closing) as [CloseReason];
      assert.equal(reason.kind, 'closed');
      assert.equal(reason.kind === 'closed' && reason.error?.code, ErrorCode.InflateLimit);
      await pending;
    });

    it('closes with JANUS_ERR_RECORD_OPEN on a tampered record', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      const closing = onceEvent(client, 'close');
      conn.sendRaw(new Uint8Array(40).fill(7));
      const [reason] = (await closing) as [CloseReason];
      assert.equal(reason.kind === 'closed' && reason.error?.code, ErrorCode.RecordOpen);
    });

    it('closes with JANUS_ERR_FRAME_TOO_LARGE on a body over maxFrameBytes', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ maxFrameBytes: 1024 }));
      const conn = await gw.nextConn();
      const closing = onceEvent(client, 'close');
      conn.send(makePacket({ mod: 3, seq: 1, data: new Uint8Array(2000) }));
      const [reason] = (await closing) as [CloseReason];
      assert.equal(reason.kind === 'closed' && reason.error?.code, ErrorCode.FrameTooLarge);
    });

    it('refuses a request over maxFrameBytes without using up an index', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ maxFrameBytes: 1024 }));
      const conn = await gw.nextConn();
      const details = await rejectsWith(client.request(3, 1, new Uint8Array(randomBytes(2000))), ErrorCode.FrameTooLarge);
      assert.equal(details.maxFrameBytes, 1024);
      const call = client.request(3, 2, bytes('fits'));
      const req = await conn.next();
      assert.equal(req.index, conn.startIndex + 1);
      conn.reply(req, bytes('ok'));
      await call;
      assert.deepEqual(conn.indexErrors, []);
    });

    it('rejects a request with JANUS_ERR_REQUEST_TIMEOUT when no reply comes', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ requestTimeoutMs: 100 }));
      const details = await rejectsWith(client.request(3, 1), ErrorCode.RequestTimeout);
      assert.equal(details.timeoutMs, 100);
      const conn = await gw.nextConn();
      const late = await conn.next();
      conn.reply(late, bytes('late')); // dropped: nobody waits for it
      const next = client.request(3, 2);
      conn.reply(await conn.next(), bytes('on time'));
      assert.equal(text((await next).data), 'on time');
    });

    it('sends a heartbeat when nothing was sent for heartbeatIntervalMs', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ heartbeatIntervalMs: 50 }));
      const conn = await gw.nextConn();
      const hb = await conn.next();
      assert.deepEqual([hb.mod, hb.seq, hb.index], [1, 2, conn.startIndex + 1]);
      const clientTime = decodeMessage(CSHeartbeatSchema, hb.data).clientTime;
      assert.ok(clientTime >= BigInt(nowSeconds() - 5) && clientTime <= BigInt(nowSeconds()));
      const hb2 = await conn.next();
      assert.deepEqual([hb2.mod, hb2.seq, hb2.index], [1, 2, conn.startIndex + 2]);
      assert.equal(client.closed, false);
      assert.deepEqual(conn.indexErrors, []);
    });

    it('treats an unanswered heartbeat as a dead link', async (t) => {
      const gw = await FakeGateway.start(t, { transport, answerHeartbeats: false });
      const client = await connect(t, await gw.clientOptions({ heartbeatIntervalMs: 30, requestTimeoutMs: 100 }));
      const [reason] = (await onceEvent(client, 'close')) as [CloseReason];
      assert.equal(reason.kind === 'closed' && reason.error?.code, ErrorCode.RequestTimeout);
    });

    it('works in plaintext mode', async (t) => {
      const gw = await FakeGateway.start(t, { transport, encrypted: false });
      const client = await connect(t, await gw.clientOptions());
      const conn = await gw.nextConn();
      assert.equal(client.session.uid, UID);
      const call = client.request(3, 1, bytes('plain'));
      const req = await conn.next();
      assert.equal(text(req.data), 'plain');
      conn.reply(req, bytes('text'));
      assert.equal(text((await call).data), 'text');
    });

    it('close() ends the connection, is idempotent and rejects later requests', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await JanusClient.connect(await gw.clientOptions());
      const conn = await gw.nextConn();
      const pending = rejectsWith(client.request(3, 1), ErrorCode.ConnectionClosed);
      await conn.next();
      const reasons: CloseReason[] = [];
      client.on('close', (r: CloseReason) => reasons.push(r));
      const first = client.close();
      assert.equal(client.closed, true);
      assert.equal(client.close(), first);
      await first;
      await conn.pipe.closed;
      await pending;
      await rejectsWith(client.request(3, 2), ErrorCode.ConnectionClosed);
      assert.deepEqual(reasons, [{ kind: 'closed' }]);
    });

    it('reconnects after the gateway drops the socket, with a new session', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ reconnect: { retries: 3, minDelayMs: 10, maxDelayMs: 50 } }));
      const conn1 = await gw.nextConn();
      const old: Session = client.session;
      const pending = rejectsWith(client.request(3, 1), ErrorCode.ConnectionClosed);
      await conn1.next();
      const reconnecting = onceEvent(client, 'reconnecting');
      const reconnected = onceEvent(client, 'reconnect');
      let duringReconnect: Promise<unknown> | undefined;
      client.once('reconnecting', () => (duringReconnect = rejectsWith(client.request(3, 2), ErrorCode.ConnectionClosed)));
      conn1.pipe.destroy();
      await pending;
      const [ev] = (await reconnecting) as [ReconnectingEvent];
      assert.equal(ev.attempt, 1);
      assert.ok(ev.delayMs >= 10 && ev.delayMs <= 50);
      assert.equal(ev.reason.kind, 'closed');
      await duringReconnect;
      const [session] = (await reconnected) as [Session];
      const conn2 = await gw.nextConn();
      assert.equal(session.startIndex, conn2.startIndex);
      assert.notEqual(session.startIndex, old.startIndex);
      assert.deepEqual(client.session, session);
      const call = client.request(3, 3, bytes('again'));
      const req = await conn2.next();
      assert.equal(req.index, conn2.startIndex + 1);
      conn2.reply(req, bytes('back'));
      assert.equal(text((await call).data), 'back');
      assert.equal(client.closed, false);
      assert.deepEqual(conn2.indexErrors, []);
    });

    it('reconnects after ServerLogout Waiting', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ reconnect: { retries: 2, minDelayMs: 5, maxDelayMs: 20 } }));
      const conn1 = await gw.nextConn();
      const reconnecting = onceEvent(client, 'reconnecting');
      const reconnected = onceEvent(client, 'reconnect');
      conn1.logout(SCServerLogout_Code.Waiting);
      const [ev] = (await reconnecting) as [ReconnectingEvent];
      assert.deepEqual(ev.reason, { kind: 'logout', code: SCServerLogout_Code.Waiting, name: 'Waiting' });
      await reconnected;
      assert.equal((await gw.nextConn()).startIndex, client.session.startIndex);
    });

    for (const code of [SCServerLogout_Code.Unauthorized, SCServerLogout_Code.Banned, SCServerLogout_Code.ConflictingLogin, SCServerLogout_Code.AdminKickOut]) {
      const name = SCServerLogout_Code[code]!;
      it(`does not reconnect after ServerLogout ${name}, and says so in 'state'`, async (t) => {
        const gw = await FakeGateway.start(t, { transport });
        const client = await connect(t, await gw.clientOptions({ reconnect: { retries: 3, minDelayMs: 5, maxDelayMs: 20 } }));
        const conn = await gw.nextConn();
        let reconnects = 0;
        client.on('reconnecting', () => reconnects++);
        const states: StateChange[] = [];
        client.on('state', (s) => states.push(s));
        const closing = onceEvent(client, 'close');
        conn.logout(code);
        const [reason] = (await closing) as [CloseReason];
        assert.deepEqual(reason, { kind: 'logout', code, name });
        assert.deepEqual(states, [{ state: 'open', session: client.session }, { state: 'closed', reason }]);
        assert.equal(client.state, 'closed');
        assert.equal(reconnects, 0);
        assert.equal(client.closed, true);
        await conn.pipe.closed;
        assert.equal(gw.conns.length, 1);
      });
    }

    it('stops reconnecting once the token is no longer valid: an attempt answered with TokenExpired ends the client', async (t) => {
      const gw = await FakeGateway.start(t, { transport, authLogout: { fromConn: 1, code: SCServerLogout_Code.TokenExpired } });
      const client = await connect(t, await gw.clientOptions({ reconnect: { retries: 5, minDelayMs: 5, maxDelayMs: 20 } }));
      const conn1 = await gw.nextConn();
      const attempts: number[] = [];
      client.on('reconnecting', (e) => attempts.push(e.attempt));
      const states: string[] = [];
      client.on('state', (s) => states.push(s.state));
      const closing = onceEvent(client, 'close');
      conn1.pipe.destroy();
      const [reason] = await closing;
      assert.deepEqual(reason, { kind: 'logout', code: SCServerLogout_Code.TokenExpired, name: 'TokenExpired' });
      assert.deepEqual(attempts, [1]);
      assert.deepEqual(states, ['open', 'reconnecting', 'connecting', 'closed']);
      assert.equal(gw.conns.length, 2);
    });

    it("reports every connection state in 'state': open, reconnecting, connecting, open, closed", async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await JanusClient.connect(await gw.clientOptions({ reconnect: { retries: 3, minDelayMs: 10, maxDelayMs: 40 } }));
      const states: StateChange[] = [];
      client.on('state', (s) => states.push(s));
      // The first session's 'open' is held for listeners attached right after connect().
      const [first] = await onceEvent(client, 'state');
      assert.deepEqual(first, { state: 'open', session: client.session });
      assert.equal(client.state, 'open');
      const conn1 = await gw.nextConn();
      const reconnected = onceEvent(client, 'reconnect');
      conn1.pipe.destroy();
      const [session] = await reconnected;
      assert.equal(client.state, 'open'); // shown right behind 'reconnect', in the same turn
      await client.close();
      assert.deepEqual(
        states.map((s) => s.state),
        ['open', 'reconnecting', 'connecting', 'open', 'closed'],
      );
      const waiting = states[1] as Extract<StateChange, { state: 'reconnecting' }>;
      assert.equal(waiting.attempt, 1);
      assert.ok(waiting.delayMs >= 10 && waiting.delayMs <= 40);
      assert.equal(waiting.reason.kind, 'closed');
      assert.deepEqual(states[2], { state: 'connecting', attempt: 1 });
      assert.deepEqual(states[3], { state: 'open', session });
      assert.deepEqual(states[4], { state: 'closed', reason: { kind: 'closed' } });
      assert.equal(client.state, 'closed');
    });

    it("measures the heartbeat round trip: heartbeat() resolves with rttMs, 'heartbeat' carries it, rttMs keeps the latest", async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ heartbeatIntervalMs: 40 }));
      assert.equal(client.rttMs, null);
      const [auto] = await onceEvent(client, 'heartbeat'); // the one sent after 40 ms of silence
      assert.equal(auto.code, SCHeartbeat_Code.Succeeded);
      assert.ok(auto.rttMs >= 0 && auto.rttMs < 5000, String(auto.rttMs));
      assert.equal(client.rttMs, auto.rttMs);
      const events: HeartbeatReply[] = [];
      client.on('heartbeat', (h) => events.push(h));
      const before = performance.now();
      const reply = await client.heartbeat();
      const elapsed = performance.now() - before;
      assert.ok(reply.rttMs >= 0 && reply.rttMs <= elapsed + 1, `${reply.rttMs} within ${elapsed}`);
      // An automatic heartbeat may have been answered meanwhile; ours is among the events.
      assert.ok(events.includes(reply), 'heartbeat() resolved with an object the event did not carry');
      assert.equal(events.at(-1) === reply ? client.rttMs : reply.rttMs, reply.rttMs);
    });

    it('gives up after the configured retries and closes with the last failure', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ reconnect: { retries: 2, minDelayMs: 5, maxDelayMs: 10 } }));
      const conn = await gw.nextConn();
      const attempts: number[] = [];
      client.on('reconnecting', (e: ReconnectingEvent) => attempts.push(e.attempt));
      const closing = onceEvent(client, 'close');
      await gw.stop(); // the listener is gone: every attempt is refused
      await conn.pipe.closed;
      const [reason] = (await closing) as [CloseReason];
      assert.deepEqual(attempts, [1, 2]);
      assert.equal(reason.kind === 'closed' && reason.error?.code, ErrorCode.ConnectionClosed);
    });

    it('rejects connect on ClockSkew with the gateway clock in details', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const opts = await gw.clientOptions({ now: () => Date.now() / 1000 - 1000 });
      const details = await rejectsWith(JanusClient.connect(opts), ErrorCode.Logout);
      assert.equal(details.logoutCode, SCServerLogout_Code.ClockSkew);
      assert.ok(typeof details.serverTime === 'bigint' && details.serverTime >= BigInt(nowSeconds() - 5));
    });

    it('corrects its clock from a ClockSkew ServerLogout and reconnects', async (t) => {
      const gw = await FakeGateway.start(t, { transport, handshakeSkew: 100_000 });
      const skewed = await gw.clientOptions({ now: () => Date.now() / 1000 - 1000, reconnect: { retries: 2, minDelayMs: 5, maxDelayMs: 10 } });
      const client = await connect(t, skewed);
      const conn1 = await gw.nextConn();
      assert.ok(conn1.helloTimestamp < BigInt(nowSeconds() - 900));
      gw.hsConfig.handshakeSkew = 300;
      const reconnected = onceEvent(client, 'reconnect');
      conn1.logout(SCServerLogout_Code.ClockSkew);
      await reconnected;
      const conn2 = await gw.nextConn();
      const drift = conn2.helloTimestamp - BigInt(nowSeconds());
      assert.ok(drift >= -5n && drift <= 5n, `handshake timestamp off by ${drift} s`);
      const hb = await client.heartbeat();
      assert.equal(hb.code, SCHeartbeat_Code.Succeeded);
      const sent = decodeMessage(CSHeartbeatSchema, (await conn2.next()).data).clientTime;
      assert.ok(sent >= BigInt(nowSeconds() - 5));
    });

    it('close() during a reconnect wait stops it', async (t) => {
      const gw = await FakeGateway.start(t, { transport });
      const client = await connect(t, await gw.clientOptions({ reconnect: { retries: 5, minDelayMs: 5000, maxDelayMs: 5000 } }));
      const conn = await gw.nextConn();
      const reconnecting = onceEvent(client, 'reconnecting');
      conn.pipe.destroy();
      await reconnecting;
      const closing = onceEvent(client, 'close');
      await client.close();
      assert.deepEqual((await closing)[0], { kind: 'closed' });
      assert.equal(gw.conns.length, 1);
    });
  });
}

describe('JanusClient with the other crypto back ends', () => {
  for (const pick of ['noble', 'webcrypto'] as const) {
    it(`runs a session over ws with the ${pick} back end: handshake, compressed request and reply, push, heartbeat`, async (t) => {
      const crypto = pick === 'noble' ? await loadNobleCrypto() : webCrypto;
      const gw = await FakeGateway.start(t, { transport: 'ws' });
      const client = await connect(t, await gw.clientOptions({ crypto, compressThreshold: 100 }));
      assert.equal(client.cryptoName, pick);
      const conn = await gw.nextConn();
      const big = bytes('x'.repeat(5000));
      const call = client.request(3, 1, big);
      const req = await conn.next();
      assert.equal(req.compress, true);
      assert.deepEqual(new Uint8Array(inflateSync(req.data)), big);
      conn.reply(req, deflateSync(big), { compress: true });
      assert.deepEqual(new Uint8Array((await call).data), big);
      const pushed = onceEvent(client, 'push');
      conn.send(makePacket({ mod: 3, seq: 4, data: bytes('pushed') }));
      assert.equal(text((await pushed)[0].data), 'pushed');
      assert.equal((await client.heartbeat()).code, SCHeartbeat_Code.Succeeded);
      assert.deepEqual(conn.indexErrors, []);
    });
  }
});

describe('JanusClient over ws: close codes', () => {
  it('reports the WebSocket close code of a connection closed without ServerLogout', async (t) => {
    const gw = await FakeGateway.start(t, { transport: 'ws' });
    const client = await connect(t, await gw.clientOptions());
    const conn = await gw.nextConn();
    const closing = onceEvent(client, 'close');
    conn.pipe.end(1002);
    const [reason] = (await closing) as [CloseReason];
    assert.deepEqual(reason, { kind: 'closed', wsCode: 1002 });
  });
});

describe('JanusClient over tcp: framing', () => {
  it('closes with JANUS_ERR_FRAME_EMPTY on a zero length prefix', async (t) => {
    const gw = await FakeGateway.start(t, { transport: 'tcp' });
    const client = await connect(t, await gw.clientOptions());
    const conn = await gw.nextConn();
    const closing = onceEvent(client, 'close');
    conn.pipe.writeRaw!(new Uint8Array(4)); // a zero length prefix, bypassing the framing
    const [reason] = (await closing) as [CloseReason];
    assert.equal(reason.kind === 'closed' && reason.error?.code, ErrorCode.FrameEmpty);
  });
});
