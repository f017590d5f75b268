/**
 * The composition root: `createGateway(config)` builds every part from the validated
 * config (no global state), so tests run many gateways in one process.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodePacket, SCServerLogout_Code, serverLogoutPacket, WS_SUBPROTOCOL, type CryptoBackend } from '@janus/protocol';
import { CryptoPool } from '@janus/protocol/node';
import { Balancer } from './balancer.js';
import { systemClock, type Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import { Connection, wsCodeForLogout, type ConnectionContext } from './connection/connection.js';
import { HandshakeAdmission } from './connection/limits.js';
import { ZlibPool } from './connection/zlib-pool.js';
import { StaticDiscovery, type Discovery } from './discovery.js';
import { GatewayAddressClaim, gatewayInstanceId } from './gateway-claim.js';
import { loadKeyRing, type KeyRing } from './keys.js';
import { MemoryPushBus, type PushBus } from './push/bus.js';
import { PushChannel } from './push/channel.js';
import { PushService } from './push/service.js';
import { MemoryRouteTable, type RouteTable } from './route-table.js';
import { Router } from './router.js';
import { SessionRegistry } from './sessions.js';
import { TcpTransport, WriteCoalescer } from './transport-tcp.js';
import { WsTransport } from './transport-ws.js';
import { WsCode, type Transport } from './transport.js';
import { ChannelPool } from './tunnel.js';

/** Ports (adapters) and hooks a caller may supply instead of the embedded defaults. */
export interface GatewayOptions {
  /** A pino logger; default: a new one at `log.level` with `gateway: gateway.id`. */
  logger?: Logger;
  /**
   * Default: Redis when `routeTable.redis` is configured (`@janus/redis`, loaded only then),
   * else an in-memory table. Closed by the gateway's close().
   */
  routeTable?: RouteTable;
  /**
   * The cluster push channels. Default: Redis pub/sub when `routeTable.redis` is configured,
   * else an in-process bus of this gateway's own. A caller's bus is not closed by the gateway
   * (gateways of one process may share one MemoryPushBus).
   */
  pushBus?: PushBus;
  /** Default: the config's static instance lists. */
  discovery?: Discovery;
  /** Default: loaded from the config's key files and the environment. */
  keys?: KeyRing;
  /** Wall time and timers (tests pass a manual clock). Default: the system clock. */
  clock?: Clock;
  /**
   * The back end of the server handshake's asymmetric crypto. Default: a CryptoPool of this
   * gateway's own (worker threads started on first use, ended by close();
   * docs/decisions/0008-handshake-offload.md). A caller's back end is not closed by the gateway.
   */
  handshakeCrypto?: CryptoBackend;
}

/** A running gateway. */
export interface Gateway {
  readonly config: GatewayConfig;
  /** Bound ports (useful when the config asked for port 0). */
  readonly tcpPort: number;
  readonly wsPort: number;
  /** Live client connections. */
  readonly connectionCount: number;
  /** Logged-in sessions. */
  readonly sessions: SessionRegistry<Connection>;
  /** Push and kick over this gateway's sessions (PROTOCOL.md 11); the gRPC and HTTP fronts call it. */
  readonly push: PushService<Connection>;
  /** The cluster push channel consumer and its counters. */
  readonly pushChannel: PushChannel<Connection>;
  /** This gateway's advertised gRPC `host:port`: its gateway table value and own push channel. */
  readonly gateAddress: string;
  /** This process's instance id (its claim on `gateAddress`, decision 0017). */
  readonly instanceId: string;
  /**
   * Graceful shutdown (PROTOCOL.md 8): stop accepting, ServerLogout Waiting to every client,
   * half-close the tunnels, wait for the sockets to close (at most timeouts.shutdownMs),
   * then destroy what is left. Idempotent.
   */
  close(): Promise<void>;
}

/** An adapter that reports getting its store back after an outage (the Redis adapters do). */
interface Recoverable {
  onRecovered?(fn: () => void): () => void;
}

function listen(server: TcpServer | HttpServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/**
 * Builds and starts a gateway: TCP and WebSocket listeners on the configured addresses.
 * @throws JanusError JANUS_ERR_KEY_INVALID (keys), or the listen error (EADDRINUSE...).
 */
export async function createGateway(cfg: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? pino({ level: cfg.log.level, base: { gateway: cfg.gateway.id } });
  const clock = opts.clock ?? systemClock;
  const keys = opts.keys ?? loadKeyRing(cfg);
  const ownPool = opts.handshakeCrypto ? null : new CryptoPool();
  const handshakeCrypto = opts.handshakeCrypto ?? ownPool!;
  const gateAddress = `${cfg.gateway.advertiseHost}:${cfg.listen.grpc.port}`;
  // Redis adapters only when configured: the import keeps ioredis out of a gateway without it.
  let redis: { routeTable: RouteTable; pushBus: PushBus; close(): Promise<void> } | null = null;
  const redisCfg = cfg.routeTable.redis;
  if (redisCfg && (!opts.routeTable || !opts.pushBus)) {
    const { openRedisAdapters } = await import('@janus/redis');
    try {
      redis = await openRedisAdapters(redisCfg);
    } catch (err) {
      await ownPool?.close();
      throw err;
    }
  }
  const routes = opts.routeTable ?? redis?.routeTable ?? new MemoryRouteTable(() => clock.now());
  const bus = opts.pushBus ?? redis?.pushBus ?? new MemoryPushBus();
  const ownBus = opts.pushBus ? null : bus;
  const discovery = opts.discovery ?? new StaticDiscovery(cfg.discovery.static);
  // A backend message may carry up to maxInflateBytes of data (deflated on the way out) plus
  // its fields; anything larger fails its stream instead of stalling the event loop in zlib.
  const channels = new ChannelPool(
    cfg.tunnel.channelsPerInstance,
    cfg.timeouts.tunnelConnectMs,
    cfg.timeouts.tunnelHalfCloseMs,
    Math.max(cfg.limits.maxInflateBytes, cfg.limits.maxFrameBytes) + 1024,
    cfg.tunnel,
  );
  const coalescer = new WriteCoalescer();
  const handshakes = new HandshakeAdmission(cfg.limits, clock.now());
  const sessions = new SessionRegistry<Connection>();
  const push = new PushService<Connection>(sessions);
  const pushChannel = new PushChannel<Connection>({
    bus,
    service: push,
    session: (uid) => sessions.get(uid),
    routes,
    gateAddress,
    broadcastChannel: cfg.push.broadcastChannel,
    log,
  });
  const claim = new GatewayAddressClaim(routes, gateAddress, gatewayInstanceId(cfg.gateway.id), cfg.routeTable.ownerClaimTtlS, clock, log);
  const connections = new Set<Connection>();
  const perAddress = new Map<string, number>();
  let nextId = 1;
  let shuttingDown = false;
  let closedAll: (() => void) | null = null;

  const ctx: ConnectionContext = {
    cfg,
    keys,
    handshake: {
      crypto: handshakeCrypto,
      encrypted: cfg.encrypted,
      clientKeys: keys.clientKeys,
      serverKeys: keys.serverKeys,
      handshakeSkew: cfg.timeouts.handshakeSkewS,
    },
    router: new Router(cfg),
    balancer: new Balancer(discovery, routes, cfg.routeTable.ttlS),
    channels,
    sessions,
    routes,
    zlib: new ZlibPool(cfg.limits.zlibConcurrency),
    gateAddress,
    kickElsewhere: (owner, uid) => pushChannel.kickElsewhere(owner, uid),
    log,
    clock,
    shuttingDown: () => shuttingDown,
    onClosed(conn) {
      connections.delete(conn);
      const a = conn.transport.remoteAddress;
      const n = (perAddress.get(a) ?? 1) - 1;
      if (n <= 0) perAddress.delete(a);
      else perAddress.set(a, n);
      if (closedAll && connections.size === 0) closedAll();
    },
  };

  /**
   * Admits a transport or turns it away with ServerLogout Waiting at once (PROTOCOL.md 7.2):
   * shutting down, full, over the per-address connection limit, or over the handshake rate
   * (per address or in all).
   */
  const admit = (t: Transport): void => {
    const a = t.remoteAddress;
    const { maxConnections, maxConnectionsPerAddress } = cfg.limits;
    const full =
      shuttingDown ||
      connections.size >= maxConnections ||
      (maxConnectionsPerAddress > 0 && (perAddress.get(a) ?? 0) >= maxConnectionsPerAddress) ||
      !handshakes.admit(a, clock.now());
    if (full) {
      t.attach({ onBody() {}, onProtocolError() {}, onClose() {} });
      t.send(encodePacket(serverLogoutPacket(SCServerLogout_Code.Waiting, Math.floor(clock.now() / 1000))));
      t.close({ kind: 'end', wsCode: wsCodeForLogout(SCServerLogout_Code.Waiting, shuttingDown) }, cfg.timeouts.logoutFlushMs);
      return;
    }
    perAddress.set(a, (perAddress.get(a) ?? 0) + 1);
    const conn = new Connection(nextId++, t, ctx);
    connections.add(conn);
    conn.start();
  };

  const tcpServer = createTcpServer({ noDelay: true }, (socket: Socket) => admit(new TcpTransport(socket, cfg.limits.maxFrameBytes, coalescer)));
  const httpServer = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end(`WebSocket only, at ${cfg.listen.ws.path}\n`);
  });
  const wss = new WebSocketServer({
    server: httpServer,
    path: cfg.listen.ws.path,
    maxPayload: cfg.limits.maxFrameBytes,
    perMessageDeflate: false,
    // Select janus.v1 when offered; accept clients that offer none or only others.
    handleProtocols: (offered) => (offered.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });
  // After listen(), an accept error (ENFILE, ENOBUFS...) must not crash the process.
  const onServerError = (err: Error): void => log.error({ err }, 'listener error');
  tcpServer.on('error', onServerError);
  httpServer.on('error', onServerError);
  wss.on('error', onServerError);
  wss.on('connection', (ws: WebSocket, req) => admit(new WsTransport(ws, req.socket.remoteAddress ?? '')));

  /** Closes the route table (always), the push bus (unless the caller's) and the Redis connections. */
  const closeStores = async (): Promise<void> => {
    if (routes !== redis?.routeTable) await routes.close();
    if (ownBus && ownBus !== redis?.pushBus) await ownBus.close();
    if (redis) await redis.close();
  };
  /** Undoes what start-up did so far when a later step fails. */
  const abortStart = async (): Promise<void> => {
    tcpServer.close();
    httpServer.close();
    await pushChannel.stop().catch(() => {});
    await claim.release();
    await closeStores();
    await discovery.close();
    await ownPool?.close();
  };
  let tcpPort: number;
  let wsPort: number;
  try {
    // One running gateway per advertised address, then its channels, then the listeners.
    await claim.acquire();
    await pushChannel.start();
    tcpPort = await listen(tcpServer, cfg.listen.tcp.host, cfg.listen.tcp.port);
    wsPort = await listen(httpServer, cfg.listen.ws.host, cfg.listen.ws.port);
  } catch (err) {
    await abortStart();
    throw err;
  }
  // A Redis that came back (perhaps restarted empty): write back every open session's entry.
  const offRecovered = (routes as Recoverable).onRecovered?.(() => {
    log.info({ sessions: sessions.size }, 'route table reachable again; writing back the gateway table entries');
    for (const c of [...sessions.values()]) c.restoreGateEntry().catch((err: unknown) => log.warn({ err }, 'gateway route reassert failed'));
  });
  const offBusRecovered = (bus as Recoverable).onRecovered?.(() => log.info('push channels subscribed again'));
  log.info({ tcp: `${cfg.listen.tcp.host}:${tcpPort}`, ws: `${cfg.listen.ws.host}:${wsPort}${cfg.listen.ws.path}`, encrypted: cfg.encrypted }, 'gateway listening');

  let closing: Promise<void> | null = null;
  return {
    config: cfg,
    tcpPort,
    wsPort,
    sessions,
    push,
    pushChannel,
    gateAddress,
    instanceId: claim.instanceId,
    get connectionCount() {
      return connections.size;
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        tcpServer.close();
        httpServer.close();
        offRecovered?.();
        offBusRecovered?.();
        await pushChannel.stop().catch((err: unknown) => log.warn({ err }, 'push channel unsubscribe failed'));
        const done = new Promise<void>((resolve) => {
          closedAll = resolve;
          if (connections.size === 0) resolve();
        });
        for (const c of [...connections]) c.logout(SCServerLogout_Code.Waiting);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, cfg.timeouts.shutdownMs)))]);
        clearTimeout(timer);
        for (const c of connections) c.transport.close({ kind: 'destroy', wsCode: WsCode.GoingAway }, 0);
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        httpServer.closeAllConnections();
        channels.close();
        await claim.release();
        await closeStores();
        await discovery.close();
        await ownPool?.close();
        log.info('gateway stopped');
      })();
      return closing;
    },
  };
}
