/**
 * One client connection: the state machine of PROTOCOL.md sections 2, 7 and 8.
 *
 *   handshaking --CSHandshake ok--> authenticating --CSAuth ok + login--> open --> closing
 *        \______________ any failure: ServerLogout or close (section 2) ______/
 *
 * Bodies are processed strictly in arrival order. Work that must wait (the handshake,
 * the token and login, opening a tunnel) returns a promise; bodies that arrive meanwhile
 * queue in a bounded inbox (the socket pauses when it fills), so requests pipelined behind
 * CSAuth are answered in order after SCAuth. The open state's per-message path is
 * synchronous: record open, Packet decode, index check, route, tunnel write.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import type { Logger } from 'pino';
import * as grpc from '@grpc/grpc-js';
import {
  checkClientHello,
  createServerHello,
  CSAuthSchema,
  CSHeartbeatSchema,
  decodeClientHello,
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  ErrorCode,
  heartbeatReplyPacket,
  isJanusError,
  JanusError,
  makePacket,
  MAX_RECORD_NUMBER,
  MOD_SYSTEM,
  openToken,
  RECORD_TAG_BYTES,
  RecordOpener,
  RecordSealer,
  SCAuthSchema,
  SCHeartbeat_Code,
  SCServerLogout_Code,
  serverLogoutPacket,
  serverUnexpectedErrPacket,
  SystemSeq,
  type Packet,
  type ServerHandshakeConfig,
  type TunnelMessage,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import type { Balancer } from './balancer.js';
import type { Clock, TimerHandle } from './clock.js';
import type { GatewayConfig } from './config.js';
import type { KeyRing } from './keys.js';
import { GATE_SERVICE_NAME, routeKey, type RouteTable } from './route-table.js';
import type { Router, ServiceRoute } from './router.js';
import type { SessionRegistry } from './sessions.js';
import type { Transport } from './transport.js';
import { WsCode } from './transport.js';
import type { ChannelPool, Tunnel, TunnelListener, TunnelStatus } from './tunnel.js';

/** The largest index a client packet may carry. PROTOCOL.md 8. */
const MAX_INDEX = 0x7fffffff;
/** |client_time - now| above this (s) answers ErrTime. PROTOCOL.md 8. */
const HEARTBEAT_SKEW_S = 10;

/** Connection states (PROTOCOL.md 7). */
export type ConnectionState = 'handshaking' | 'authenticating' | 'open' | 'closing';

/** What every connection of a gateway shares (built once in createGateway). */
export interface ConnectionContext {
  cfg: GatewayConfig;
  keys: KeyRing;
  handshake: ServerHandshakeConfig;
  router: Router;
  balancer: Balancer;
  channels: ChannelPool;
  sessions: SessionRegistry<Connection>;
  routes: RouteTable;
  /** This gateway's internal gRPC `host:port` (gate referer, gateway route table). */
  gateAddress: string;
  log: Logger;
  /** Wall time and timers. */
  clock: Clock;
  /** Whether the gateway is shutting down (ServerLogout Waiting uses WebSocket 1001 then). */
  shuttingDown(): boolean;
  /** Called once when the connection has fully closed. */
  onClosed(conn: Connection): void;
}

/** The WebSocket close code that goes with a ServerLogout (PROTOCOL.md 2). */
export function wsCodeForLogout(code: SCServerLogout_Code, shutdown: boolean): number {
  switch (code) {
    case SCServerLogout_Code.Unauthorized:
    case SCServerLogout_Code.TokenExpired:
    case SCServerLogout_Code.ClockSkew:
    case SCServerLogout_Code.BadVersion:
      return WsCode.PolicyViolation;
    case SCServerLogout_Code.Waiting:
      return shutdown ? WsCode.GoingAway : WsCode.TryAgainLater;
    case SCServerLogout_Code.RateLimited:
      return WsCode.TryAgainLater;
    default:
      return WsCode.Normal;
  }
}

/** One client connection over a Transport. */
export class Connection implements TunnelListener {
  state: ConnectionState = 'handshaking';
  uid = 0n;
  sid = 0n;
  color = '';
  tokenStatus = 0;

  private sealer: RecordSealer<true> | null = null;
  private opener: RecordOpener<true> | null = null;
  private nextIndex = 0;
  private requestedServerId = 0n;
  private readonly inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private busy = false;
  private lastRecvMs: number;
  private handshakeTimer: TimerHandle | null = null;
  private idleTimer: TimerHandle | null = null;
  private gateRenewTimer: TimerHandle | null = null;
  private playerTunnel: Tunnel | null = null;
  private readonly objectTunnels = new Map<ServiceRoute, Map<bigint, Tunnel>>();
  /** Tunnels whose write() returned false: the client socket stays paused until each drains. */
  private readonly awaitingDrain = new Set<Tunnel>();
  private tokens: number;
  private tokensAtMs: number;
  private strikes = 0;
  private strikeWindowMs = 0;
  private readonly log: Logger;

  constructor(
    readonly id: number,
    readonly transport: Transport,
    private readonly ctx: ConnectionContext,
  ) {
    this.lastRecvMs = ctx.clock.now();
    this.tokens = ctx.cfg.limits.messageBurst;
    this.tokensAtMs = this.lastRecvMs;
    this.log = ctx.log.child({ conn: id, transport: transport.kind });
  }

  /** Starts the connection: events, the handshake timer. */
  start(): void {
    this.transport.attach({
      onBody: (body) => this.onBody(body),
      onProtocolError: (err) => this.onProtocolError(err),
      onClose: () => this.onTransportClose(),
    });
    this.handshakeTimer = this.ctx.clock.setTimeout(() => {
      this.log.debug('handshake timeout');
      // No CSHandshake or no CSAuth in time: end, nothing sent; WebSocket 1008 (PROTOCOL.md 2).
      this.close({ kind: 'end', wsCode: WsCode.PolicyViolation });
    }, this.ctx.cfg.timeouts.handshakeMs);
    this.log.debug({ remote: this.transport.remoteAddress }, 'accepted');
  }

  // ---- receive path -------------------------------------------------------------------

  private onBody(body: Uint8Array): void {
    if (this.state === 'closing') return;
    this.lastRecvMs = this.ctx.clock.now();
    if (this.busy || this.inbox.length !== 0) {
      this.inbox.push(body);
      this.inboxBytes += body.length;
      if (this.inboxBytes >= this.ctx.cfg.limits.inboxBytes) this.transport.pause();
      return;
    }
    this.process(body);
  }

  private process(body: Uint8Array): void {
    let r: void | Promise<void>;
    try {
      r = this.handle(body);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (r) {
      this.busy = true;
      r.then(
        () => {
          this.busy = false;
          this.drainInbox();
        },
        (err) => {
          this.busy = false;
          this.fail(err);
        },
      );
    }
  }

  private drainInbox(): void {
    while (!this.busy && this.inbox.length !== 0 && this.state !== 'closing') {
      const body = this.inbox.shift()!;
      this.inboxBytes -= body.length;
      this.process(body);
    }
    if (!this.busy && this.awaitingDrain.size === 0 && this.state !== 'closing') this.transport.resume();
  }

  private handle(body: Uint8Array): void | Promise<void> {
    switch (this.state) {
      case 'open':
        return this.handleOpen(body);
      case 'handshaking':
        return this.handleHandshake(body);
      case 'authenticating':
        return this.handleAuth(body);
      default:
        return;
    }
  }

  /** Opens (encrypted) and decodes a client body, checking its index (PROTOCOL.md 7.5, 8). */
  private readPacket(body: Uint8Array): Packet {
    const plain = this.opener ? this.opener.open(body) : body;
    const p = decodePacket(plain);
    if (p.index !== this.nextIndex || p.index > MAX_INDEX) {
      throw new JanusError(ErrorCode.IndexMismatch, `index ${p.index}, expected ${this.nextIndex}`);
    }
    this.nextIndex++;
    return p;
  }

  private async handleHandshake(body: Uint8Array): Promise<void> {
    const hs = decodeClientHello(body);
    const now = this.nowS();
    const code = await checkClientHello(this.ctx.handshake, hs, now);
    if (this.state !== 'handshaking') return;
    if (code !== null) {
      this.log.debug({ logout: SCServerLogout_Code[code] }, 'handshake rejected');
      this.logout(code);
      return;
    }
    const sh = await createServerHello(this.ctx.handshake, { csBody: body, hs, timestamp: BigInt(now) });
    if (this.state !== 'handshaking') return;
    this.requestedServerId = hs.serverId;
    this.nextIndex = sh.startIndex;
    if (sh.keys) {
      this.sealer = new RecordSealer(nodeCrypto.aeadKey(sh.keys.s2cKey), sh.keys.s2cIv);
      this.opener = new RecordOpener(nodeCrypto.aeadKey(sh.keys.c2sKey), sh.keys.c2sIv);
    }
    this.transport.send(sh.body);
    this.state = 'authenticating';
  }

  private async handleAuth(body: Uint8Array): Promise<void> {
    const p = this.readPacket(body);
    if (p.mod !== MOD_SYSTEM || p.seq !== SystemSeq.AUTH) {
      throw new JanusError(ErrorCode.UnexpectedMessage, `first record is mod ${p.mod} seq ${p.seq}, not CSAuth`);
    }
    const auth = decodeMessage(CSAuthSchema, p.data);
    this.clearHandshakeTimer();
    let token;
    try {
      token = await openToken(nodeCrypto, this.ctx.keys.tokenKeys, auth.token, this.nowS());
    } catch (err) {
      const expired = isJanusError(err, ErrorCode.TokenExpired);
      this.log.debug({ err: (err as Error).message }, 'auth rejected');
      this.logout(expired ? SCServerLogout_Code.TokenExpired : SCServerLogout_Code.Unauthorized);
      return;
    }
    if (this.state !== 'authenticating') return;
    if (this.requestedServerId !== 0n && this.requestedServerId !== token.serverId) {
      this.logout(SCServerLogout_Code.Unauthorized);
      return;
    }
    this.uid = token.accountId;
    this.sid = token.serverId;
    this.color = token.color;
    this.tokenStatus = token.status;
    await this.login();
    if (this.state !== 'authenticating') return;
    this.sendPacket(
      makePacket({
        mod: MOD_SYSTEM,
        seq: SystemSeq.AUTH,
        index: p.index,
        data: encodeMessage(SCAuthSchema, { uid: this.uid, sid: this.sid, color: this.color, serverTime: BigInt(this.nowS()) }),
      }),
    );
    this.state = 'open';
    this.armIdleTimer();
    this.log.debug({ uid: this.uid.toString() }, 'logged in');
  }

  /** Conflicting login, the gateway route table, the player tunnel (PROTOCOL.md 7.6). */
  private async login(): Promise<void> {
    const { sessions, routes, cfg } = this.ctx;
    sessions.login(this, SCServerLogout_Code.ConflictingLogin);
    const gateKey = routeKey(GATE_SERVICE_NAME, this.color, this.uid);
    await routes.set(gateKey, this.ctx.gateAddress, cfg.routeTable.ttlS);
    if (this.state !== 'authenticating') {
      // Closed while the entry was written: release it again (releaseSession ran before),
      // unless a newer connection of this uid holds it now.
      if (!sessions.get(this.uid)) await routes.deleteIfEquals(gateKey, this.ctx.gateAddress);
      return;
    }
    const renew = (): void => {
      this.gateRenewTimer = this.ctx.clock.setTimeout(() => {
        routes.renewIfEquals(gateKey, this.ctx.gateAddress, cfg.routeTable.ttlS).catch((err) => this.log.warn({ err }, 'gateway route renew failed'));
        renew();
      }, (cfg.routeTable.ttlS * 1000) / 2);
    };
    renew();
    const tunnel = await this.openTunnel(this.ctx.router.player, this.uid);
    if (this.state !== 'authenticating') {
      tunnel?.end();
      return;
    }
    if (!tunnel) {
      // No player instance for this color, or its stream failed at once: Waiting.
      this.logout(SCServerLogout_Code.Waiting);
      return;
    }
    this.playerTunnel = tunnel;
  }

  private handleOpen(body: Uint8Array): void | Promise<void> {
    const p = this.readPacket(body);
    if (p.mod === MOD_SYSTEM) {
      if (p.seq !== SystemSeq.HEARTBEAT) {
        throw new JanusError(ErrorCode.UnexpectedMessage, `System seq ${p.seq} from a client after login`);
      }
      const hb = decodeMessage(CSHeartbeatSchema, p.data);
      const now = this.nowS();
      const skew = hb.clientTime - BigInt(now);
      const code = skew > HEARTBEAT_SKEW_S || skew < -HEARTBEAT_SKEW_S ? SCHeartbeat_Code.ErrTime : SCHeartbeat_Code.Succeeded;
      this.sendPacket(heartbeatReplyPacket(p.index, now, code));
      return;
    }
    if (!this.takeToken()) {
      this.sendPacket(serverUnexpectedErrPacket(p.index, p.mod, p.seq, 'rate limited'));
      // Over-limit messages are counted per one-second window; too many in one window
      // means the connection stays over the limit.
      if (this.lastRecvMs - this.strikeWindowMs >= 1000) {
        this.strikeWindowMs = this.lastRecvMs;
        this.strikes = 0;
      }
      if (++this.strikes >= this.ctx.cfg.limits.rateLimitStrikes) this.logout(SCServerLogout_Code.RateLimited);
      return;
    }
    if (p.compress) {
      p.data = this.inflate(p.data);
      p.compress = false;
    }
    if (p.obj === 0n) p.obj = this.uid;
    const svc = this.ctx.router.route(p.mod, p.seq);
    if (!svc) {
      this.sendPacket(serverUnexpectedErrPacket(p.index, p.mod, p.seq, `no route for module ${p.mod}`));
      return;
    }
    if (svc.isPlayer) {
      if (this.playerTunnel) this.writeTunnel(this.playerTunnel, p);
      else this.sendPacket(serverUnexpectedErrPacket(p.index, p.mod, p.seq, 'player tunnel closed'));
      return;
    }
    const t = this.objectTunnels.get(svc)?.get(p.obj);
    if (t) {
      this.writeTunnel(t, p);
      return;
    }
    return this.openTunnel(svc, p.obj).then((opened) => {
      if (this.state !== 'open') {
        opened?.end();
        return;
      }
      if (!opened) {
        this.sendPacket(serverUnexpectedErrPacket(p.index, p.mod, p.seq, `no backend for ${svc.name}`));
        return;
      }
      let m = this.objectTunnels.get(svc);
      if (!m) this.objectTunnels.set(svc, (m = new Map()));
      m.set(p.obj, opened);
      this.writeTunnel(opened, p);
    });
  }

  /** Token bucket (PROTOCOL.md 8 rate limit); false when this message is over the limit. */
  private takeToken(): boolean {
    const { messagesPerSecond, messageBurst } = this.ctx.cfg.limits;
    const now = this.lastRecvMs;
    this.tokens = Math.min(messageBurst, this.tokens + ((now - this.tokensAtMs) * messagesPerSecond) / 1000);
    this.tokensAtMs = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  private inflate(data: Uint8Array): Uint8Array {
    try {
      // maxOutputLength stops inflating as soon as the output passes the limit.
      return inflateSync(data, { maxOutputLength: this.ctx.cfg.limits.maxInflateBytes });
    } catch (err) {
      throw new JanusError(ErrorCode.InflateLimit, `inflate failed: ${(err as Error).message}`);
    }
  }

  // ---- tunnels ------------------------------------------------------------------------

  private async openTunnel(svc: ServiceRoute, oid: bigint): Promise<Tunnel | null> {
    try {
      const address = await this.ctx.balancer.pick(svc.discoveryName, this.color, oid);
      if (!address) {
        this.log.warn({ service: svc.name, color: this.color }, 'no backend instance');
        return null;
      }
      return await this.ctx.channels.open(
        address,
        svc,
        {
          oid,
          uid: this.uid,
          sid: this.sid,
          status: this.tokenStatus,
          color: this.color,
          clientIp: this.transport.remoteAddress,
          gateReferer: `${this.ctx.gateAddress}#${this.id}`,
        },
        this,
      );
    } catch (err) {
      this.log.warn({ service: svc.name, err: (err as Error).message }, 'tunnel open failed');
      return null;
    }
  }

  private writeTunnel(t: Tunnel, p: Packet): void {
    // A Packet has every TunnelRequest field under the same name (compress is ignored).
    if (!t.write(p as TunnelMessage) && !this.awaitingDrain.has(t)) {
      // Backpressure: stop reading this client until the stream drains. A stream emits
      // one 'drain' however many writes returned false, so count tunnels, not writes.
      this.awaitingDrain.add(t);
      this.transport.pause();
    }
  }

  /** @internal TunnelListener */
  onDrain(t: Tunnel): void {
    if (this.awaitingDrain.delete(t) && this.awaitingDrain.size === 0 && !this.busy && this.state !== 'closing') {
      this.transport.resume();
    }
  }

  /** @internal TunnelListener: a backend reply or push, decoded as a Packet, goes to the client. */
  onMessage(_t: Tunnel, p: Packet): void {
    if (this.state === 'closing') return;
    this.sendPacket(p);
  }

  /** @internal TunnelListener (PROTOCOL.md 9 lifecycle). */
  onEnd(t: Tunnel, status: TunnelStatus): void {
    // An ended stream never drains: stop waiting for it.
    this.onDrain(t);
    if (t === this.playerTunnel) {
      this.playerTunnel = null;
      if (this.state !== 'closing') {
        this.log.info({ code: status.code, details: status.details }, 'player tunnel ended');
        this.logout(SCServerLogout_Code.Waiting);
      }
      return;
    }
    const m = this.objectTunnels.get(t.route);
    if (m?.get(t.oid) === t) {
      m.delete(t.oid);
      if (m.size === 0) this.objectTunnels.delete(t.route);
    }
    if (status.code !== grpc.status.OK && this.state === 'open') {
      this.log.info({ service: t.route.name, oid: t.oid.toString(), code: status.code, details: status.details }, 'object tunnel failed');
      this.sendPacket(serverUnexpectedErrPacket(0, t.lastMod, t.lastSeq, status.details || `tunnel ended with status ${status.code}`));
    }
  }

  // ---- send path ----------------------------------------------------------------------

  /**
   * Sends a Packet: deflate when due, encode, seal, frame. A reply too large for
   * maxFrameBytes is answered with ServerUnexpectedErr instead; a push that large is dropped.
   */
  sendPacket(p: Packet): void {
    if (this.state === 'closing') return;
    const { compressThreshold, compressLevel, maxFrameBytes, sendQueueBytes } = this.ctx.cfg.limits;
    if (p.mod !== MOD_SYSTEM && !p.compress && p.data.length >= compressThreshold) {
      p.data = deflateSync(p.data, { level: compressLevel });
      p.compress = true;
    }
    let body = encodePacket(p);
    if (body.length + (this.sealer ? RECORD_TAG_BYTES : 0) > maxFrameBytes) {
      this.log.warn({ mod: p.mod, seq: p.seq, bytes: body.length }, 'outgoing Packet over maxFrameBytes');
      if (p.index !== 0) this.sendPacket(serverUnexpectedErrPacket(p.index, p.mod, p.seq, 'reply too large'));
      return;
    }
    if (this.sealer) {
      // Keep the last record number for the ServerLogout that ends the session.
      if (this.sealer.count >= MAX_RECORD_NUMBER) {
        this.logout(SCServerLogout_Code.Waiting);
        return;
      }
      body = this.sealer.seal(body);
    }
    this.transport.send(body);
    if (this.transport.bufferedBytes > sendQueueBytes) {
      this.log.warn({ queued: this.transport.bufferedBytes }, 'slow consumer');
      this.logout(SCServerLogout_Code.Waiting);
    }
  }

  // ---- endings ------------------------------------------------------------------------

  /**
   * Ends the connection with `SCServerLogout{code}` (a record once keys exist), flushed
   * before the close (PROTOCOL.md 2, 8). Idempotent.
   */
  logout(code: SCServerLogout_Code): void {
    if (this.state === 'closing') return;
    let body = encodePacket(serverLogoutPacket(code, this.nowS()));
    if (this.sealer) body = this.sealer.seal(body);
    this.transport.send(body);
    this.close({ kind: 'end', wsCode: wsCodeForLogout(code, this.ctx.shuttingDown()) });
  }

  private fail(err: unknown): void {
    if (this.state === 'closing') return;
    if (err instanceof JanusError) {
      this.log.debug({ code: err.code, err: err.message }, 'closing on bad input');
      // Malformed frame, Packet, record or index: destroy at once, nothing sent (PROTOCOL.md 2).
      this.close({ kind: 'destroy', wsCode: WsCode.ProtocolError });
      return;
    }
    this.log.error({ err }, 'connection failed');
    this.logout(SCServerLogout_Code.Server);
  }

  private onProtocolError(err: Error): void {
    this.log.debug({ err: err.message }, 'transport protocol error');
    this.close(null);
  }

  /** Closes as `action` says (null: the transport already closed itself). */
  close(action: Parameters<Transport['close']>[0] | null): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.inbox.length = 0;
    this.inboxBytes = 0;
    this.clearHandshakeTimer();
    if (this.idleTimer) this.ctx.clock.clearTimeout(this.idleTimer);
    if (this.gateRenewTimer) this.ctx.clock.clearTimeout(this.gateRenewTimer);
    if (action) this.transport.close(action, this.ctx.cfg.timeouts.logoutFlushMs);
    this.releaseSession();
  }

  private onTransportClose(): void {
    this.close(null);
    this.ctx.onClosed(this);
    this.log.debug('closed');
  }

  /** Half-closes every tunnel, leaves the registry and the gateway route table. */
  private releaseSession(): void {
    this.playerTunnel?.end();
    this.playerTunnel = null;
    for (const m of this.objectTunnels.values()) for (const t of m.values()) t.end();
    this.objectTunnels.clear();
    if (this.uid !== 0n) {
      this.ctx.sessions.remove(this);
      // Every connection of this gateway writes the same value: leave the entry to a newer
      // connection of the same uid (conflicting login) rather than delete it under it.
      if (this.ctx.sessions.get(this.uid)) return;
      const gateKey = routeKey(GATE_SERVICE_NAME, this.color, this.uid);
      this.ctx.routes.deleteIfEquals(gateKey, this.ctx.gateAddress).catch((err) => this.log.warn({ err }, 'gateway route delete failed'));
    }
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) this.ctx.clock.clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  // Idle: re-armed lazily from lastRecvMs, so receiving costs no timer work.
  private armIdleTimer(): void {
    const idleMs = this.ctx.cfg.timeouts.idleMs;
    const left = this.lastRecvMs + idleMs - this.ctx.clock.now();
    this.idleTimer = this.ctx.clock.setTimeout(() => {
      if (this.state === 'closing') return;
      if (this.ctx.clock.now() - this.lastRecvMs >= idleMs) {
        this.log.debug('idle timeout');
        this.close({ kind: 'end', wsCode: WsCode.Normal });
      } else {
        this.armIdleTimer();
      }
    }, Math.max(left, 1));
  }

  private nowS(): number {
    return Math.floor(this.ctx.clock.now() / 1000);
  }
}
