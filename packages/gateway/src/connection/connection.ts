/**
 * One client connection: the state machine of PROTOCOL.md sections 2, 7 and 8, and how it
 * ends. The parts it wires together, each in its own module:
 *
 *   transport --bodies--> Inbox (serial, bounded) --> handle(): Receiver (open, decode, index)
 *     open: heartbeat | limits | inflate (ZlibPool) | Router --> ConnectionTunnels --> backend
 *   backend reply --> ConnectionTunnels --> Sender (deflate, encode, seal) --> transport
 *   login: SessionLogin (registry, gateway route table) + the player tunnel
 *
 *   handshaking --CSHandshake ok--> authenticating --CSAuth ok + login--> open --> closing
 *        \______________ any failure: ServerLogout or close (section 2) ______/
 *
 * The open state's per-message path is synchronous (record open, Packet decode, index
 * check, route, tunnel write); only a compressed request or a first message to an object
 * makes the inbox wait.
 */
import type { Logger } from 'pino';
import {
  checkClientHello,
  createServerHello,
  CSAuthSchema,
  CSHeartbeatSchema,
  decodeClientHello,
  decodeMessage,
  encodeMessage,
  ErrorCode,
  heartbeatReplyPacket,
  HEARTBEAT_SKEW_S,
  isJanusError,
  JanusError,
  makePacket,
  MOD_SYSTEM,
  openToken,
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
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import type { Balancer } from '../balancer.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { GatewayConfig } from '../config.js';
import type { KeyRing } from '../keys.js';
import { errorTypeOfCode, type CloseKind, type DisconnectReason, type ErrorType, type GatewayMetrics, type HandshakeFailure, type LatencySample } from '../management/metrics.js';
import type { RepeatLog } from '../management/repeat-log.js';
import type { RouteTable } from '../route-table.js';
import type { Router, ServiceRoute } from '../router.js';
import type { SessionRegistry } from '../sessions.js';
import type { ConnectionSpans, GatewayTracing } from '../tracing.js';
import type { Transport } from '../transport.js';
import { WsCode } from '../transport.js';
import type { ChannelPool, Tunnel, TunnelStatus } from '../tunnel.js';
import { Inbox } from './inbox.js';
import { StrikeCounter, TokenBucket } from './limits.js';
import type { PushTarget } from '../push/service.js';
import { SessionLogin, type LoginSubject } from './login.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import { ConnectionTunnels, type TunnelsOwner } from './tunnels.js';
import type { ZlibPool } from './zlib-pool.js';

/** Connection states (PROTOCOL.md 7). */
export type ConnectionState = 'handshaking' | 'authenticating' | 'open' | 'closing';

/**
 * What every connection of a gateway shares (built once in createGateway). A config reload
 * replaces `cfg`, `keys`, `handshake` and `router` (reload.ts): a connection reads them when
 * it uses them, so what it took at its start (limits, session keys, tunnels) stays its own.
 */
export interface ConnectionContext {
  cfg: GatewayConfig;
  keys: KeyRing;
  handshake: ServerHandshakeConfig;
  router: Router;
  balancer: Balancer;
  channels: ChannelPool;
  sessions: SessionRegistry<Connection>;
  routes: RouteTable;
  zlib: ZlibPool;
  /** This gateway's internal gRPC `host:port` (gate referer, gateway route table, own push channel). */
  gateAddress: string;
  /** Ends `uid`'s session on the gateway `owner` with ConflictingLogin (its push channel). */
  kickElsewhere(owner: string, uid: bigint): Promise<void>;
  log: Logger;
  /** Aggregation of repeated log lines (close reasons, logins, backend failures). */
  repeat: RepeatLog;
  /** The gateway's metrics: counters bumped here, read at scrape time. */
  metrics: GatewayMetrics;
  /** Wall time (wire timestamps), monotonic time and timers. */
  clock: Clock;
  /** Request spans (tracing.ts); null when tracing is off. */
  tracing: GatewayTracing | null;
  /** Whether the gateway is shutting down (ServerLogout Waiting uses WebSocket 1001 then). */
  shuttingDown(): boolean;
  /** Called once when the connection has fully closed. */
  onClosed(conn: Connection): void;
}

/** A connection's own counters (tests and stats read them; nothing here is timed). */
export interface ConnectionStats {
  state: ConnectionState;
  /** Bodies delivered by the transport / handed to processing. */
  bodiesIn: number;
  processed: number;
  /** Bytes queued in the inbox, and whether a tunnel holds it (backpressure). */
  inboxBytes: number;
  inboxHeld: boolean;
  /** Requests written to tunnels. */
  forwarded: number;
  /** Heartbeats answered / refused by the heartbeat limit. */
  heartbeats: number;
  heartbeatsRefused: number;
  /** Requests refused by the message limit or the inflate budget. */
  rateLimited: number;
  inflateRefused: number;
  /** Bytes produced by inflating client data. */
  inflatedBytes: number;
  /** Packets sent; bytes queued for the client. */
  sent: number;
  sendQueueBytes: number;
  /** Object tunnels open, half-closed by eviction, opened in all, evicted in all. */
  objectTunnels: number;
  closingObjectTunnels: number;
  objectTunnelsOpened: number;
  objectTunnelsEvicted: number;
}

/** How a connection ended (metrics labels and the `closed` log line). */
export interface ConnectionEnding {
  reason: DisconnectReason;
  /** The ServerLogout code sent, or null (none sent). */
  logout: SCServerLogout_Code | null;
  close: CloseKind;
  /** What went wrong, for the log (an error message, a tunnel status); never a token or payload. */
  detail?: string;
}

/** The handshake-failure reason of a 7.2 check's ServerLogout code. */
function helloFailure(code: SCServerLogout_Code): HandshakeFailure {
  if (code === SCServerLogout_Code.BadVersion) return 'bad_version';
  if (code === SCServerLogout_Code.ClockSkew) return 'clock_skew';
  return 'unauthorized';
}

/**
 * A tunnel status for the log: `gRPC status 12 UNIMPLEMENTED (...): details`. UNIMPLEMENTED
 * means the backend does not serve the configured method path, so the key is named.
 */
function statusText(st: TunnelStatus, service: string): string {
  const hint = st.code === 12 ? ` UNIMPLEMENTED (the backend does not serve services.${service}.path)` : '';
  return `gRPC status ${st.code}${hint}${st.details ? `: ${st.details}` : ''}`;
}

/** The reason of a logout whose caller named none (the session registry's ConflictingLogin). */
function logoutReason(code: SCServerLogout_Code): DisconnectReason {
  if (code === SCServerLogout_Code.ConflictingLogin) return 'conflicting_login';
  if (code === SCServerLogout_Code.RateLimited) return 'rate_limited';
  return 'internal';
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
export class Connection implements TunnelsOwner, LoginSubject, PushTarget {
  state: ConnectionState = 'handshaking';
  uid = 0n;
  sid = 0n;
  color = '';
  tokenStatus = 0;

  private readonly log: Logger;
  private traceOn: boolean;
  private ending: ConnectionEnding | null = null;
  /** The state the connection was in when it began to close (the close log line). */
  private stateAtEnd: ConnectionState = 'handshaking';
  /** When the connection was accepted (ms, the clock's monotonic time: Clock.monotonic). */
  readonly startedMs: number;
  /** performance.now() when the request being processed is timed (-1: not timed), and the request in flight. */
  private sampleStart = -1;
  private sample: LatencySample | null = null;
  private readonly inbox: Inbox;
  private readonly receiver = new Receiver();
  private readonly sender: Sender;
  private readonly tunnels: ConnectionTunnels;
  /** Request spans waiting for replies; null when tracing is off (the hot path's one check). */
  private readonly spans: ConnectionSpans | null;
  private login: SessionLogin<Connection> | null = null;
  private requestedServerId = 0n;
  /** Monotonic time of the last frame received (ms). */
  private lastRecvMs: number;
  private handshakeTimer: TimerHandle | null = null;
  private loginTimer: TimerHandle | null = null;
  private idleTimer: TimerHandle | null = null;
  private readonly messages: TokenBucket;
  private readonly heartbeatBucket: TokenBucket;
  private readonly inflateBudget: TokenBucket;
  private readonly strikes: StrikeCounter;
  private bodiesIn = 0;
  private forwarded = 0;
  private heartbeats = 0;
  private heartbeatsRefused = 0;
  private rateLimited = 0;
  private inflateRefused = 0;
  private inflatedBytes = 0;

  constructor(
    readonly id: number,
    readonly transport: Transport,
    private readonly ctx: ConnectionContext,
  ) {
    const { limits } = ctx.cfg;
    const now = ctx.clock.monotonic();
    this.lastRecvMs = now;
    this.startedMs = now;
    this.messages = new TokenBucket(limits.messagesPerSecond, limits.messageBurst, now);
    this.heartbeatBucket = new TokenBucket(limits.heartbeatsPerSecond, limits.heartbeatBurst, now);
    this.inflateBudget = new TokenBucket(limits.inflateBytesPerSecond, Math.max(limits.inflateBytesPerSecond, limits.maxInflateBytes), now);
    this.strikes = new StrikeCounter(limits.rateLimitStrikes);
    this.log = ctx.log.child({ conn: id, transport: transport.kind });
    this.traceOn = this.log.isLevelEnabled('trace');
    this.spans = ctx.tracing === null ? null : ctx.tracing.connection(id);
    this.inbox = new Inbox(limits.inboxBytes, (body) => this.handle(body), transport, (err) => this.fail(err));
    const m = ctx.metrics;
    this.sender = new Sender(
      transport,
      limits,
      ctx.zlib,
      {
        onCannotSend: (why) =>
          this.logout(
            SCServerLogout_Code.Waiting,
            why === 'slow consumer' ? 'slow_consumer' : 'record_limit',
            why === 'slow consumer' ? `over limits.sendQueueBytes ${limits.sendQueueBytes} unsent` : 'record counter at its last number',
          ),
        onPushWritten: () => m.pushesDelivered.n++,
        onOversize: () => m.errors.reply_too_large.n++,
      },
      this.log,
    );
    this.tunnels = new ConnectionTunnels(this, ctx.channels, ctx.balancer, limits.maxObjectTunnels, () => ({
      uid: this.uid,
      sid: this.sid,
      status: this.tokenStatus,
      color: this.color,
      clientIp: transport.remoteAddress,
      gateReferer: `${ctx.gateAddress}#${id}`,
    }));
  }

  /** Starts the connection: events, the handshake timer. */
  start(): void {
    this.transport.attach({
      onBody: (body) => {
        if (this.state === 'closing') return;
        this.bodiesIn++;
        this.lastRecvMs = this.ctx.clock.monotonic();
        this.inbox.push(body);
      },
      onProtocolError: (err) => {
        const code = (err as { code?: unknown }).code;
        const janus = err instanceof JanusError;
        this.countBadInput(janus ? errorTypeOfCode(err.code) : typeof code === 'string' && code.includes('LENGTH') ? 'frame_too_large' : 'ws_protocol');
        this.close(null, { reason: 'bad_input', logout: null, close: 'destroy', detail: err.message });
      },
      onClose: () => {
        this.close(null, { reason: 'peer_closed', logout: null, close: 'peer' });
        this.ctx.onClosed(this);
        this.logClosed();
      },
    });
    this.handshakeTimer = this.ctx.clock.setTimeout(() => {
      this.ctx.metrics.handshakeFailures.timeout.n++;
      // No CSHandshake or no CSAuth in time: end, nothing sent; WebSocket 1008 (PROTOCOL.md 2).
      this.close({ kind: 'end', wsCode: WsCode.PolicyViolation }, { reason: 'handshake_timeout', logout: null, close: 'end' });
    }, this.ctx.cfg.timeouts.handshakeMs);
    this.log.debug({ remote: this.transport.remoteAddress }, 'accepted');
  }

  /** @internal LoginSubject: still between CSAuth and SCAuth. */
  stillLoggingIn(): boolean {
    return this.state === 'authenticating';
  }

  /** How the connection ended (null while it is open). */
  get ended(): ConnectionEnding | null {
    return this.ending;
  }

  /** Changes this connection's log level (the gateway's runtime level change). */
  setLogLevel(level: string): void {
    this.log.level = level;
    this.traceOn = this.log.isLevelEnabled('trace');
  }

  /**
   * Sends pushed Packets (PROTOCOL.md 11), a copy of each, once the session is open; false
   * before SCAuth (a push never overtakes it) and once closing.
   */
  push(packets: readonly Packet[]): boolean {
    if (this.state !== 'open') return false;
    this.ctx.metrics.pushesAttempted.n += packets.length;
    for (const p of packets) this.sender.send({ ...p });
    return true;
  }

  /** Ends the session for the push API's kick (PROTOCOL.md 11) with ServerLogout `code`. */
  kick(code: SCServerLogout_Code): void {
    this.logout(code, code === SCServerLogout_Code.ConflictingLogin ? 'conflicting_login' : 'kicked', 'kicked through the push API');
  }

  /**
   * Writes the gateway table entry back if the table lost it (a Redis that restarted
   * empty; the SET NX is sent before this returns); resolves whether the entry is this
   * gateway's afterwards.
   * @throws JanusError JANUS_ERR_ROUTE_TABLE_UNAVAILABLE from the table.
   */
  restoreGateEntry(): Promise<boolean> {
    return this.login?.restore() ?? Promise.resolve(false);
  }

  /** A snapshot of the connection's counters. */
  stats(): ConnectionStats {
    return {
      state: this.state,
      bodiesIn: this.bodiesIn,
      processed: this.inbox.processed,
      inboxBytes: this.inbox.queuedBytes,
      inboxHeld: this.inbox.isHeld,
      forwarded: this.forwarded,
      heartbeats: this.heartbeats,
      heartbeatsRefused: this.heartbeatsRefused,
      rateLimited: this.rateLimited,
      inflateRefused: this.inflateRefused,
      inflatedBytes: this.inflatedBytes,
      sent: this.sender.sent,
      sendQueueBytes: this.sender.queuedBytes,
      objectTunnels: this.tunnels.objectCount,
      closingObjectTunnels: this.tunnels.closingCount,
      objectTunnelsOpened: this.tunnels.opened,
      objectTunnelsEvicted: this.tunnels.evicted,
    };
  }

  // ---- receive path -------------------------------------------------------------------

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

  private async handleHandshake(body: Uint8Array): Promise<void> {
    const hs = decodeClientHello(body);
    // One key set for both steps: a config reload in between must not take away the server key version just checked.
    const hsConfig = this.ctx.handshake;
    const now = this.nowS();
    const code = await checkClientHello(hsConfig, hs, now);
    if (this.state !== 'handshaking') return;
    if (code !== null) {
      this.ctx.metrics.handshakeFailures[helloFailure(code)].n++;
      this.logout(code, 'handshake_refused');
      return;
    }
    const sh = await createServerHello(hsConfig, { csBody: body, hs, timestamp: BigInt(now) });
    if (this.state !== 'handshaking') return;
    this.requestedServerId = hs.serverId;
    this.receiver.nextIndex = sh.startIndex;
    if (sh.keys) {
      this.sender.sealer = new RecordSealer(nodeCrypto.aeadKey(sh.keys.s2cKey), sh.keys.s2cIv);
      this.receiver.opener = new RecordOpener(nodeCrypto.aeadKey(sh.keys.c2sKey), sh.keys.c2sIv);
    }
    this.sender.sendPlain(sh.body);
    this.state = 'authenticating';
  }

  private async handleAuth(body: Uint8Array): Promise<void> {
    const p = this.receiver.read(body);
    if (p.mod !== MOD_SYSTEM || p.seq !== SystemSeq.AUTH) {
      throw new JanusError(ErrorCode.UnexpectedMessage, `first record is mod ${p.mod} seq ${p.seq}, not CSAuth`);
    }
    const auth = decodeMessage(CSAuthSchema, p.data);
    this.clearTimer('handshakeTimer');
    // The login deadline: a token check or route table call that hangs ends the login with Waiting.
    this.loginTimer = this.ctx.clock.setTimeout(() => {
      this.ctx.metrics.handshakeFailures.login_deadline.n++;
      this.logout(SCServerLogout_Code.Waiting, 'login_deadline', `no SCAuth within timeouts.loginMs ${this.ctx.cfg.timeouts.loginMs} ms`);
    }, this.ctx.cfg.timeouts.loginMs);
    let token;
    try {
      token = await openToken(nodeCrypto, this.ctx.keys.tokenKeys, auth.token, this.nowS());
    } catch (err) {
      const expired = isJanusError(err, ErrorCode.TokenExpired);
      this.ctx.metrics.handshakeFailures[expired ? 'token_expired' : 'token_invalid'].n++;
      this.logout(expired ? SCServerLogout_Code.TokenExpired : SCServerLogout_Code.Unauthorized, 'auth_refused', (err as Error).message);
      return;
    }
    if (this.state !== 'authenticating') return;
    if (this.requestedServerId !== 0n && this.requestedServerId !== token.serverId) {
      this.ctx.metrics.handshakeFailures.server_id_mismatch.n++;
      this.logout(SCServerLogout_Code.Unauthorized, 'auth_refused', `CSHandshake server_id ${this.requestedServerId} is not the token's ${token.serverId}`);
      return;
    }
    this.uid = token.accountId;
    this.sid = token.serverId;
    this.color = token.color;
    this.tokenStatus = token.status;
    if (!(await this.logIn())) return;
    this.clearTimer('loginTimer');
    this.sender.send(
      makePacket({
        mod: MOD_SYSTEM,
        seq: SystemSeq.AUTH,
        index: p.index,
        data: encodeMessage(SCAuthSchema, { uid: this.uid, sid: this.sid, color: this.color, serverTime: BigInt(this.nowS()) }),
      }),
    );
    this.state = 'open';
    this.armIdleTimer();
    this.ctx.metrics.logins.n++;
    this.log.setBindings({ uid: this.uid.toString() });
    this.ctx.repeat.log('info', 'logged in', this.log, { sid: this.sid.toString(), color: this.color, status: this.tokenStatus }, 'logged in');
  }

  /** Conflicting login, the gateway route table, the player tunnel (PROTOCOL.md 7.6). False: the login ended. */
  private async logIn(): Promise<boolean> {
    const { ctx } = this;
    this.login = new SessionLogin<Connection>(this, {
      sessions: ctx.sessions,
      routes: ctx.routes,
      gateAddress: ctx.gateAddress,
      ttlS: ctx.cfg.routeTable.ttlS,
      playerDiscoveryName: ctx.router.player.discoveryName,
      kickElsewhere: ctx.kickElsewhere,
      clock: ctx.clock,
      log: this.log,
    });
    try {
      if (!(await this.login.register())) return false;
    } catch (err) {
      // The route table or push bus is unreachable (Redis down or restarting): this login
      // cannot be recorded, so it ends with Waiting; open sessions are not touched.
      this.logout(SCServerLogout_Code.Waiting, 'route_table_unavailable', `the login could not be recorded in the gateway table: ${(err as Error).message}`);
      return false;
    }
    const tunnel = await this.tunnels.open(ctx.router.player, this.uid);
    if (this.state !== 'authenticating') {
      tunnel?.end();
      return false;
    }
    // The player service learns the player is online before SCAuth (PROTOCOL.md 9).
    const accepted = tunnel ? await tunnel.accepted() : false;
    if (this.state !== 'authenticating') {
      tunnel?.end();
      return false;
    }
    // An ended stream (a wrong method path gets UNIMPLEMENTED right after the headers) is not
    // a player tunnel, whatever accepted() saw first: its end was not reported as the player's.
    if (!tunnel || !accepted || tunnel.endStatus) {
      // No player instance for this color, or its stream failed at once: Waiting.
      this.ctx.metrics.handshakeFailures.no_player_backend.n++;
      const st = tunnel?.endStatus;
      const why = !tunnel
        ? `no player instance for color "${this.color}"`
        : `the player stream ended at once${st ? ` with ${statusText(st, this.ctx.router.player.name)}` : ''}`;
      this.logout(SCServerLogout_Code.Waiting, 'no_player_backend', why);
      return false;
    }
    this.tunnels.player = tunnel;
    return true;
  }

  private handleOpen(body: Uint8Array): void | Promise<void> {
    const m = this.ctx.metrics;
    this.sampleStart = m.sampleNext() ? m.now() : -1;
    const p = this.receiver.read(body);
    m.countRequest(p.mod);
    const now = this.lastRecvMs;
    if (p.mod === MOD_SYSTEM) return this.handleSystem(p, now);
    if (!this.messages.take(now)) {
      this.rateLimited++;
      this.refuse(p, now);
      return;
    }
    if (this.spans !== null) this.spans.start(p, p.obj === 0n ? this.uid : p.obj);
    if (p.compress) {
      // The inflate budget: refused while spent; what an inflate produced is charged after it.
      if (!this.inflateBudget.hasTokens(now)) {
        this.inflateRefused++;
        if (this.spans !== null) this.spans.refused(p.index, 'rate limited');
        this.refuse(p, now);
        return;
      }
      return this.ctx.zlib.inflate(p.data, this.ctx.cfg.limits.maxInflateBytes).then((data) => {
        this.inflatedBytes += data.length;
        this.inflateBudget.charge(this.ctx.clock.monotonic(), data.length);
        if (this.state !== 'open') return;
        p.data = data;
        p.compress = false;
        return this.route(p);
      });
    }
    return this.route(p);
  }

  /** Heartbeats (the only System message a client sends after login), under their own limit. */
  private handleSystem(p: Packet, now: number): void {
    if (p.seq !== SystemSeq.HEARTBEAT) {
      throw new JanusError(ErrorCode.UnexpectedMessage, `System seq ${p.seq} from a client after login`);
    }
    if (!this.heartbeatBucket.take(now)) {
      this.heartbeatsRefused++;
      this.refuse(p, now);
      return;
    }
    const hb = decodeMessage(CSHeartbeatSchema, p.data);
    const nowS = this.nowS();
    const skew = hb.clientTime - BigInt(nowS);
    const code = skew > HEARTBEAT_SKEW_S || skew < -HEARTBEAT_SKEW_S ? SCHeartbeat_Code.ErrTime : SCHeartbeat_Code.Succeeded;
    this.heartbeats++;
    this.sender.send(heartbeatReplyPacket(p.index, nowS, code));
  }

  /**
   * Answers a request over a limit with ServerUnexpectedErr "rate limited" (not delivered);
   * too many in one second end the connection with RateLimited (PROTOCOL.md 8).
   */
  private refuse(p: Packet, now: number): void {
    this.ctx.metrics.errors.rate_limited.n++;
    this.log.debug({ mod: p.mod, seq: p.seq, index: p.index }, 'rate limited');
    this.sender.send(serverUnexpectedErrPacket(p.index, p.mod, p.seq, 'rate limited'));
    if (this.strikes.strike(now)) this.logout(SCServerLogout_Code.RateLimited, 'rate_limited');
  }

  /** obj 0 -> uid, (mod, seq) -> service, then its tunnel (opened on first use). */
  private route(p: Packet): void | Promise<void> {
    if (p.obj === 0n) p.obj = this.uid;
    const svc = this.ctx.router.route(p.mod, p.seq);
    if (!svc) {
      this.unexpected(p, `no route for module ${p.mod}`, 'no_route');
      return;
    }
    if (svc.isPlayer) {
      const player = this.tunnels.player;
      if (player) this.forward(player, p);
      else this.unexpected(p, 'player tunnel closed', 'player_tunnel_closed');
      return;
    }
    const t = this.tunnels.getObject(svc, p.obj);
    if (t) {
      this.forward(t, p);
      return;
    }
    return this.openObject(svc, p);
  }

  private async openObject(svc: ServiceRoute, p: Packet): Promise<void> {
    if (!this.tunnels.canOpenObject()) {
      this.unexpected(p, 'too many object tunnels', 'too_many_object_tunnels');
      return;
    }
    const opened = await this.tunnels.open(svc, p.obj, this.spans === null ? undefined : this.spans.streamHeaders(p.index));
    if (this.state !== 'open') {
      opened?.end();
      return;
    }
    if (!opened) {
      this.unexpected(p, `no backend for ${svc.name}`);
      return;
    }
    this.tunnels.addObject(svc, p.obj, opened);
    this.forward(opened, p);
  }

  private forward(t: Tunnel, p: Packet): void {
    this.forwarded++;
    if (this.sampleStart >= 0) {
      this.sample = { index: p.index, service: t.route.name, received: this.sampleStart, forwarded: this.ctx.metrics.now() };
      this.sampleStart = -1;
    }
    if (this.traceOn) this.log.trace({ mod: p.mod, seq: p.seq, index: p.index, obj: p.obj.toString(), service: t.route.name }, 'request');
    if (this.spans === null) this.tunnels.write(t, p);
    else this.tunnels.write(t, p, this.spans.forwarded(t, p.index));
  }

  /**
   * Answers a request that cannot be delivered with ServerUnexpectedErr (PROTOCOL.md 8),
   * logged at debug with `msg` and counted under `error` (none: counted where it was found,
   * e.g. no_instance by the tunnel pool).
   */
  private unexpected(p: Packet, msg: string, error?: ErrorType): void {
    if (error !== undefined) this.ctx.metrics.errors[error].n++;
    this.log.debug({ mod: p.mod, seq: p.seq, index: p.index }, msg);
    if (this.spans !== null) this.spans.refused(p.index, msg);
    this.sender.send(serverUnexpectedErrPacket(p.index, p.mod, p.seq, msg));
  }

  // ---- what the tunnels report (TunnelsOwner) -----------------------------------------

  /** @internal */
  onTunnelMessage(p: Packet): void {
    if (this.spans !== null) this.spans.replied(p.index);
    // The sender is closed together with the state (close()): no second check here.
    if (this.traceOn) this.log.trace({ mod: p.mod, seq: p.seq, index: p.index, obj: p.obj.toString() }, p.index === 0 ? 'push' : 'reply');
    if (p.index === 0) this.ctx.metrics.pushesAttempted.n++;
    const s = this.sample;
    if (s !== null && p.index === s.index) {
      const m = this.ctx.metrics;
      const replyIn = m.now();
      this.sample = null;
      this.sender.send(p);
      m.observeSample(s, replyIn, m.now());
      return;
    }
    this.sender.send(p);
  }

  /** @internal */
  onTunnelMessageTooLarge(p: Packet, bytes: number): void {
    this.sender.refuseTooLarge(p, bytes);
  }

  /** @internal */
  onBackpressure(paused: boolean): void {
    if (this.state === 'closing') return;
    if (paused) this.inbox.hold();
    else this.inbox.release();
  }

  /** @internal */
  onPlayerTunnelEnd(status: TunnelStatus): void {
    if (this.state === 'closing') return;
    this.logout(SCServerLogout_Code.Waiting, 'player_tunnel_ended', statusText(status, this.ctx.router.player.name));
  }

  /** @internal */
  onObjectTunnelError(t: Tunnel, status: TunnelStatus): void {
    if (this.state !== 'open') return;
    this.ctx.metrics.errors.tunnel_failed.n++;
    if (this.spans !== null) this.spans.tunnelEnded(t, status);
    this.ctx.repeat.log(
      'info',
      `object tunnel failed:${t.route.name}`,
      this.log,
      { service: t.route.name, oid: t.oid.toString(), mod: t.lastMod, seq: t.lastSeq, code: status.code, details: status.details },
      'object tunnel failed',
    );
    this.sender.send(serverUnexpectedErrPacket(0, t.lastMod, t.lastSeq, status.details || `tunnel ended with status ${status.code}`));
  }

  /** @internal */
  onOpenFailed(svc: ServiceRoute, reason: string): void {
    const noInstance = reason === 'no backend instance';
    this.ctx.metrics.errors[noInstance ? 'no_instance' : 'tunnel_open_failed'].n++;
    // A backend down fails every login and request alike: one line per window per service.
    this.ctx.repeat.log(
      'warn',
      `tunnel open failed:${svc.name}:${noInstance}`,
      this.log,
      { service: svc.name, discoveryName: svc.discoveryName, color: this.color, reason },
      noInstance ? `no backend instance of ${svc.discoveryName} for color "${this.color}"` : 'tunnel open failed',
      1,
    );
  }

  // ---- endings ------------------------------------------------------------------------

  /**
   * Ends the connection with `SCServerLogout{code}` (a record once keys exist), flushed
   * before the close (PROTOCOL.md 2, 8). Idempotent.
   */
  logout(code: SCServerLogout_Code, reason: DisconnectReason = logoutReason(code), detail?: string): void {
    if (this.state === 'closing') return;
    this.sender.sendFinal(serverLogoutPacket(code, this.nowS()));
    this.close({ kind: 'end', wsCode: wsCodeForLogout(code, this.ctx.shuttingDown()) }, { reason, logout: code, close: 'end', ...(detail ? { detail } : {}) });
  }

  private fail(err: unknown): void {
    if (this.state === 'closing') return;
    if (err instanceof JanusError) {
      this.countBadInput(errorTypeOfCode(err.code));
      // Malformed frame, Packet, record or index: destroy at once, nothing sent (PROTOCOL.md 2).
      this.close({ kind: 'destroy', wsCode: WsCode.ProtocolError }, { reason: 'bad_input', logout: null, close: 'destroy', detail: err.message });
      return;
    }
    this.ctx.metrics.errors.internal.n++;
    this.log.error({ err }, 'connection failed');
    this.logout(SCServerLogout_Code.Server, 'internal', (err as Error)?.message);
  }

  /** Counts bad input by type, and as a handshake failure while not yet logged in. */
  private countBadInput(type: ErrorType): void {
    this.ctx.metrics.errors[type].n++;
    if (this.state === 'handshaking' || this.state === 'authenticating') this.ctx.metrics.handshakeFailures.malformed.n++;
  }

  /** The one `closed` line of a connection, at info (aggregated per reason: a flood cannot spam). */
  private logClosed(): void {
    const e = this.ending!;
    const fields = {
      reason: e.reason,
      logout: e.logout === null ? undefined : SCServerLogout_Code[e.logout],
      close: e.close,
      detail: e.detail,
      state: this.stateAtEnd,
      durationMs: this.ctx.clock.monotonic() - this.startedMs,
    };
    this.ctx.repeat.log(e.reason === 'internal' ? 'warn' : 'info', `closed:${e.reason}`, this.log, fields, 'closed');
  }

  /**
   * Closes as `action` says (null: the transport already closed itself); `ending` says why
   * (the first close's reason is kept). Idempotent.
   */
  close(action: Parameters<Transport['close']>[0] | null, ending: ConnectionEnding): void {
    if (this.state === 'closing') return;
    this.ending = ending;
    this.stateAtEnd = this.state;
    this.state = 'closing';
    this.inbox.close();
    this.sender.close();
    this.clearTimer('handshakeTimer');
    this.clearTimer('loginTimer');
    this.clearTimer('idleTimer');
    if (action) this.transport.close(action, this.ctx.cfg.timeouts.logoutFlushMs);
    this.tunnels.endAll();
    this.login?.release();
    if (this.spans !== null) this.spans.closed();
  }

  private clearTimer(name: 'handshakeTimer' | 'loginTimer' | 'idleTimer'): void {
    const t = this[name];
    if (t) this.ctx.clock.clearTimeout(t);
    this[name] = null;
  }

  // Idle: re-armed lazily from lastRecvMs, so receiving costs no timer work.
  private armIdleTimer(): void {
    const idleMs = this.ctx.cfg.timeouts.idleMs;
    const left = this.lastRecvMs + idleMs - this.ctx.clock.monotonic();
    this.idleTimer = this.ctx.clock.setTimeout(() => {
      if (this.state === 'closing') return;
      if (this.ctx.clock.monotonic() - this.lastRecvMs >= idleMs) {
        this.close({ kind: 'end', wsCode: WsCode.Normal }, { reason: 'idle_timeout', logout: null, close: 'end', detail: `no frame for timeouts.idleMs ${idleMs} ms` });
      } else {
        this.armIdleTimer();
      }
    }, Math.max(left, 1));
  }

  private nowS(): number {
    return Math.floor(this.ctx.clock.now() / 1000);
  }
}
