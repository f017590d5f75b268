/**
 * The composition root: `createGateway(config)` builds every part from the validated
 * config (no global state), so tests run many gateways in one process.
 */
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodePacket, ErrorCode, GATE_DISCOVERY_NAME, SCServerLogout_Code, serverLogoutPacket, WS_SUBPROTOCOL, type CryptoBackend } from '@janus/protocol';
import { CryptoPool } from '@janus/protocol/node';
import { Balancer } from './balancer.js';
import { importOptional } from './cli/optional.js';
import { forwardedClientAddress, TrustedProxies } from './client-address.js';
import { systemClock, type Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import { Connection, wsCodeForLogout, type ConnectionContext } from './connection/connection.js';
import { HandshakeAdmission } from './connection/limits.js';
import { ZlibPool } from './connection/zlib-pool.js';
import { onAddressesGone, StaticDiscovery, type Discovery } from './discovery.js';
import { loadKeyRing, type KeyRing } from './keys.js';
import { loadListenerTls } from './listener-tls.js';
import { readProxyHeader } from './proxy-protocol.js';
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
  /** Default: in-memory table. */
  routeTable?: RouteTable;
  /**
   * Default: etcd when `discovery.etcd` is configured (the gateway also registers itself
   * there), else the config's static instance lists. A caller's discovery is closed by close().
   */
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
  /** Where backend instances come from (static lists or etcd). */
  readonly discovery: Discovery;
  /**
   * Graceful shutdown (PROTOCOL.md 8): leave etcd (lease revoked, at most
   * discovery.etcd.requestTimeoutMs, alongside the rest), stop accepting, ServerLogout
   * Waiting to every client, half-close the tunnels, wait for the sockets to close (at most
   * timeouts.shutdownMs), then destroy what is left. Idempotent.
   */
  close(): Promise<void>;
}

/** The endpoints this gateway registers in etcd (PROTOCOL.md 10): its gRPC address. */
export function gatewayEndpoints(cfg: GatewayConfig): string[] {
  return [`grpc://${cfg.gateway.advertiseHost}:${cfg.listen.grpc.port}`];
}

/**
 * Loads the etcd adapter (only now: a gateway without etcd never loads etcd3; it is an
 * optional package) and starts watching `names`. docs/decisions/0016-etcd-discovery.md.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID when @janus/discovery-etcd is not installed
 *   or the etcd options do not validate.
 */
async function openEtcd(cfg: GatewayConfig, names: readonly string[], clock: Clock, log: Logger) {
  const { EtcdRegistry } = await importOptional(
    '@janus/discovery-etcd',
    'discovery.etcd',
    'npm install @janus/discovery-etcd beside the gateway',
    () => import('@janus/discovery-etcd'),
    ErrorCode.ConfigInvalid,
  );
  const registry = new EtcdRegistry(cfg.discovery.etcd!, { timers: clock, log: log.child({ component: 'etcd' }) });
  return { registry, discovery: registry.discovery(names) };
}

/**
 * Waits for the first instance lists, at most `ms`; past it the gateway starts on what it
 * has (logins fail with no instance until discovery catches up).
 */
async function untilReady(discovery: Discovery, ms: number, clock: Clock, log: Logger): Promise<void> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = clock.setTimeout(() => resolve(true), ms)));
  // Clock timers and the adapters' retry timers do not hold the process open, and nothing
  // listens yet: without this a start with etcd unreachable would end the process.
  const hold = setInterval(() => {}, 60_000);
  const late = await Promise.race([discovery.ready().then(() => false), timedOut]);
  clearInterval(hold);
  clock.clearTimeout(timer!);
  if (late) log.warn({ waitedMs: ms }, 'discovery has not listed every service yet; starting anyway, it keeps trying');
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
  const wsTls = cfg.listen.ws.tls ? loadListenerTls(cfg.listen.ws.tls) : null;
  const trusted = new TrustedProxies(cfg.listen.trustedProxies);
  const ownPool = opts.handshakeCrypto ? null : new CryptoPool();
  const handshakeCrypto = opts.handshakeCrypto ?? ownPool!;
  const routes = opts.routeTable ?? new MemoryRouteTable(() => clock.now());
  const discoveryNames = [...new Set(Object.values(cfg.services).map((s) => s.discoveryName))];
  const etcd = !opts.discovery && cfg.discovery.etcd ? await openEtcd(cfg, discoveryNames, clock, log) : null;
  const discovery = opts.discovery ?? etcd?.discovery ?? new StaticDiscovery(cfg.discovery.static);
  // A backend message may carry up to maxInflateBytes of data (deflated on the way out) plus
  // its fields; anything larger fails its stream instead of stalling the event loop in zlib.
  const channels = new ChannelPool(
    cfg.tunnel.channelsPerInstance,
    cfg.timeouts.tunnelConnectMs,
    cfg.timeouts.tunnelHalfCloseMs,
    Math.max(cfg.limits.maxInflateBytes, cfg.limits.maxFrameBytes) + 1024,
    cfg.tunnel,
  );
  // Connections to an instance discovery removed close once their streams end.
  onAddressesGone(discovery, discoveryNames, (address) => channels.retire(address));
  await untilReady(discovery, cfg.discovery.etcd?.startWaitMs ?? 0, clock, log);
  const coalescer = new WriteCoalescer();
  const handshakes = new HandshakeAdmission(cfg.limits, clock.now());
  const sessions = new SessionRegistry<Connection>();
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
    gateAddress: `${cfg.gateway.advertiseHost}:${cfg.listen.grpc.port}`,
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

  /** Sockets of trusted proxies whose PROXY header is still being read (not yet admitted). */
  const awaitingHeader = new Set<Socket>();
  const tcpServer = createTcpServer({ noDelay: true }, (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (!cfg.listen.tcp.proxyProtocol || !trusted.has(peer)) {
      admit(new TcpTransport(socket, cfg.limits.maxFrameBytes, coalescer));
      return;
    }
    // Admission waits for the header: the limits count the client's address, not the proxy's.
    awaitingHeader.add(socket);
    readProxyHeader(socket, cfg.timeouts.handshakeMs, clock).then(
      (h) => {
        awaitingHeader.delete(socket);
        if (shuttingDown) socket.destroy();
        else admit(new TcpTransport(socket, cfg.limits.maxFrameBytes, coalescer, h.source ?? peer));
      },
      (err: Error) => {
        awaitingHeader.delete(socket);
        log.debug({ err, remote: peer }, 'PROXY header refused');
        socket.destroy();
      },
    );
  });
  const upgradeOnly: RequestListener = (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end(`WebSocket only, at ${cfg.listen.ws.path}\n`);
  };
  // wss:// with listen.ws.tls; a TLS handshake gets the same bound as the Janus handshake.
  const httpServer: HttpServer | HttpsServer = wsTls
    ? createHttpsServer({ ...wsTls, handshakeTimeout: cfg.timeouts.handshakeMs }, upgradeOnly)
    : createHttpServer(upgradeOnly);
  const wsClientAddress = (req: IncomingMessage): string => {
    const peer = req.socket.remoteAddress ?? '';
    return cfg.listen.ws.forwardedFor ? forwardedClientAddress(peer, req.headers['x-forwarded-for'], trusted) : peer;
  };
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
  wss.on('connection', (ws: WebSocket, req) => admit(new WsTransport(ws, wsClientAddress(req))));

  let tcpPort: number;
  let wsPort: number;
  try {
    tcpPort = await listen(tcpServer, cfg.listen.tcp.host, cfg.listen.tcp.port);
    try {
      wsPort = await listen(httpServer, cfg.listen.ws.host, cfg.listen.ws.port);
    } catch (err) {
      tcpServer.close();
      throw err;
    }
  } catch (err) {
    channels.close();
    await discovery.close();
    await etcd?.registry.close();
    await ownPool?.close();
    throw err;
  }
  log.info(
    {
      tcp: `${cfg.listen.tcp.host}:${tcpPort}`,
      ws: `${cfg.listen.ws.host}:${wsPort}${cfg.listen.ws.path}`,
      wsTls: wsTls !== null,
      encrypted: cfg.encrypted,
      ...(trusted.size > 0 ? { proxyProtocol: cfg.listen.tcp.proxyProtocol, forwardedFor: cfg.listen.ws.forwardedFor } : {}),
    },
    'gateway listening',
  );
  // Registered once it listens; kept alive (and re-created after a loss) in the background.
  const registration =
    etcd && cfg.discovery.etcd!.register
      ? etcd.registry.register({ id: cfg.gateway.id, name: GATE_DISCOVERY_NAME, version: '', metadata: {}, endpoints: gatewayEndpoints(cfg) })
      : null;

  let closing: Promise<void> | null = null;
  return {
    config: cfg,
    tcpPort,
    wsPort,
    sessions,
    discovery,
    get connectionCount() {
      return connections.size;
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        // Out of the registry first, so nothing new is sent this way while sessions drain;
        // the revoke (at most requestTimeoutMs) runs alongside the drain.
        const deregistered = registration?.close();
        tcpServer.close();
        httpServer.close();
        for (const s of awaitingHeader) s.destroy();
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
        await routes.close();
        await deregistered;
        await discovery.close();
        await etcd?.registry.close();
        await ownPool?.close();
        log.info('gateway stopped');
      })();
      return closing;
    },
  };
}
