/**
 * The composition root: `createGateway(config)` builds every part from the validated
 * config (no global state), so tests run many gateways in one process.
 */
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { TracerProvider } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodePacket, ErrorCode, GATE_DISCOVERY_NAME, JanusError, SCServerLogout_Code, serverLogoutPacket, TUNNEL_FIELDS_HEADROOM_BYTES, WS_SUBPROTOCOL, type CryptoBackend } from '@janus/protocol';
import { CryptoPool } from '@janus/protocol/node';
import { Balancer } from './balancer.js';
import { importOptional } from './cli/optional.js';
import { forwardedClientAddress, TrustedProxies } from './client-address.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { GatewayConfig, LogLevel } from './config.js';
import { Connection, wsCodeForLogout, type ConnectionContext } from './connection/connection.js';
import { HandshakeAdmission } from './connection/limits.js';
import { checkDescriptorBudget, readOpenFileLimit } from './fd-limit.js';
import { ZlibPool } from './connection/zlib-pool.js';
import { onAddressesGone, StaticDiscovery, type Discovery } from './discovery.js';
import { GatewayAddressClaim, gatewayInstanceId } from './gateway-claim.js';
import { loadKeyRing, type KeyRing } from './keys.js';
import { MemoryPushBus, type PushBus } from './push/bus.js';
import { PushChannel } from './push/channel.js';
import { ClusterPush } from './push/cluster.js';
import { startPushGrpcServer, type PushGrpcServer } from './push/grpc-server.js';
import { PushService } from './push/service.js';
import { loadListenerTls } from './listener-tls.js';
import { GatewayMetrics, type RefusalReason } from './management/metrics.js';
import { RepeatLog } from './management/repeat-log.js';
import { DashboardSampler, type DashboardBackend } from './management/sampler.js';
import { startManagementServer, type ManagementServer, type ReadyReport } from './management/server.js';
import { readProxyHeader } from './proxy-protocol.js';
import { Reloader, type ConfigSource, type ReloadResult, type ReloadTrigger } from './reload.js';
import { MemoryRouteTable, type RouteTable } from './route-table.js';
import { Router } from './router.js';
import { SessionRegistry } from './sessions.js';
import { TcpTransport, WriteCoalescer } from './transport-tcp.js';
import { WsTransport } from './transport-ws.js';
import { WsCode, type Transport } from './transport.js';
import type { GatewayTracing } from './tracing.js';
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
  /**
   * Default: etcd when `discovery.etcd` is configured (the gateway also registers itself
   * there), else the config's static instance lists. A caller's discovery is closed by close().
   */
  discovery?: Discovery;
  /** Default: loaded from the config's key files and the environment. */
  keys?: KeyRing;
  /** Wall time, monotonic time and timers (tests pass a manual clock). Default: the system clock. */
  clock?: Clock;
  /**
   * The back end of the server handshake's asymmetric crypto. Default: a CryptoPool of this
   * gateway's own (worker threads started on first use, ended by close();
   * docs/decisions/0008-handshake-offload.md). A caller's back end is not closed by the gateway.
   */
  handshakeCrypto?: CryptoBackend;
  /**
   * Where reload() reads the config again (`fileConfigSource(file)` for a YAML file, which
   * `reload.watch` then watches). Default: none, reload() is refused. reload.ts.
   */
  configSource?: ConfigSource;
  /** Told of every reload attempt's result (SIGHUP, reload(), the file watch). */
  onReload?: (result: ReloadResult) => void;
  /**
   * The open-file limit the start-up check compares maxConnections with (count; null:
   * unknown, no check). Default: the soft limit read from /proc/self/limits.
   */
  openFileLimit?: number | null;
  /**
   * With `tracing.enabled`: the OpenTelemetry tracer provider to make the request spans with
   * (an embedding application's SDK, a test's in-memory exporter) instead of the OTLP
   * pipeline that `tracing.otlp` describes; the gateway does not shut it down. Ignored when
   * tracing is off.
   */
  tracerProvider?: TracerProvider;
}

/** A running gateway. */
export interface Gateway {
  /** The running config (a reload replaces it). */
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
  /** Push and kick over this gateway's sessions (PROTOCOL.md 11); the gRPC and HTTP fronts call it. */
  readonly push: PushService<Connection>;
  /** The cluster push channel consumer and its counters. */
  readonly pushChannel: PushChannel<Connection>;
  /**
   * This gateway's advertised gRPC `host:port`: its gateway table value and own push channel
   * (`gateway.advertiseHost` and the bound `listen.grpc` port).
   */
  readonly gateAddress: string;
  /** The bound port of the gRPC PushService (`listen.grpc`; useful when the config asked for port 0). */
  readonly grpcPort: number;
  /** This process's instance id (its claim on `gateAddress`, decision 0017). */
  readonly instanceId: string;
  /** The management server's bound address (`management.*`), or null when it is disabled. */
  readonly management: { host: string; port: number } | null;
  /** This gateway's metrics (its prom-client registry is `metrics.registry`). */
  readonly metrics: GatewayMetrics;
  /** The log level now. */
  readonly logLevel: string;
  /** Changes the log level of the gateway and of every live connection (the admin route). */
  setLogLevel(level: LogLevel): void;
  /**
   * Reads the config source again and applies what changed, dropping no connection:
   * open sessions keep their session keys, limits and tunnels; new connections get the new
   * config. Resolves with what changed, what needs a restart, or why it was refused (the
   * running config then stays). Never rejects. docs/operations.md "Reload and key rotation".
   * @param trigger for the log line: 'signal' (SIGHUP), 'api' (default), 'watch'.
   */
  reload(trigger?: ReloadTrigger): Promise<ReloadResult>;
  /**
   * Graceful shutdown (PROTOCOL.md 8): leave etcd (lease revoked, at most
   * discovery.etcd.requestTimeoutMs, alongside the rest), stop accepting, ServerLogout
   * Waiting to every client, half-close the tunnels, wait for the sockets to close (at most
   * timeouts.shutdownMs), then destroy what is left. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * The endpoints this gateway registers in etcd (PROTOCOL.md 10): its gRPC address (the
 * bound port, so `listen.grpc.port: 0` registers the port it got) and, when the management
 * server runs, its HTTP address (bound port), both at gateway.advertiseHost.
 */
export function gatewayEndpoints(cfg: GatewayConfig, grpcPort: number, managementPort: number | null): string[] {
  const host = cfg.gateway.advertiseHost;
  const endpoints = [`grpc://${host}:${grpcPort}`];
  if (managementPort !== null) endpoints.push(`http://${host}:${managementPort}`);
  return endpoints;
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

/** An adapter that reports getting its store back after an outage (the Redis adapters do). */
interface Recoverable {
  onRecovered?(fn: () => void): () => void;
}

function listen(server: TcpServer | HttpServer, host: string, port: number, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, host, port, key)));
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/**
 * A listen failure as one line naming the config key: `key` is a listener's key (`listen.tcp`,
 * `management`: its `.host` and `.port` are named), or with `exact` true the one key that
 * holds the address (a `grpc://host:port` endpoint).
 * @returns JanusError JANUS_ERR_CONFIG_INVALID with details `{ key, errno }`.
 */
export function listenError(err: Error, host: string, port: number, key: string, exact = false): JanusError {
  const errno = (err as NodeJS.ErrnoException).code ?? 'error';
  const why =
    errno === 'EADDRINUSE'
      ? 'the address is in use (another process listens there)'
      : errno === 'EACCES'
        ? 'permission denied (a port below 1024 needs privileges)'
        : errno === 'EADDRNOTAVAIL'
          ? 'the host is not an address of this machine'
          : err.message;
  const named = exact ? key : `${key}.host / ${key}.port`;
  return new JanusError(ErrorCode.ConfigInvalid, `cannot listen on ${host}:${port} (config ${named}): ${why} [${errno}]`, { key: exact ? key : `${key}.port`, errno });
}

/**
 * Start-up check of the static discovery lists (PROTOCOL.md 10): a service whose discovery
 * name has no instance is warned about by name (a typo would otherwise show only as
 * failed logins); with no player instance at all no login can succeed, so that refuses.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming discovery.static.<player discovery name>.
 */
export function checkStaticDiscovery(cfg: GatewayConfig, log: Logger): void {
  const listed = Object.keys(cfg.discovery.static);
  for (const [name, svc] of Object.entries(cfg.services)) {
    if ((cfg.discovery.static[svc.discoveryName]?.length ?? 0) > 0) continue;
    const known = listed.length ? `discovery.static lists ${listed.map((n) => `"${n}"`).join(', ')}` : 'discovery.static is empty';
    if (name === 'player') {
      throw new JanusError(
        ErrorCode.ConfigInvalid,
        `config discovery.static.${svc.discoveryName}: no instance of the player service (services.player.discoveryName "${svc.discoveryName}"; ${known}): no login could succeed`,
        { key: `discovery.static.${svc.discoveryName}` },
      );
    }
    log.warn({ service: name, discoveryName: svc.discoveryName }, `service "${name}" has no instance: discovery.static has no "${svc.discoveryName}" (${known}); its requests will be answered "no backend for ${name}"`);
  }
}

/** One connection as /stats/connections lists it (admin only: it names the uid and address). */
function describeConnection(c: Connection, now: number): unknown {
  const st = c.stats();
  return {
    id: c.id,
    transport: c.transport.kind,
    state: c.state,
    uid: c.uid === 0n ? null : c.uid.toString(),
    remoteAddress: c.transport.remoteAddress,
    ageMs: now - c.startedMs,
    processed: st.processed,
    forwarded: st.forwarded,
    sent: st.sent,
    sendQueueBytes: st.sendQueueBytes,
    inboxBytes: st.inboxBytes,
    objectTunnels: st.objectTunnels,
    bytesRead: c.transport.bytesRead,
    bytesWritten: c.transport.bytesWritten,
  };
}

/**
 * Builds and starts a gateway: TCP and WebSocket listeners on the configured addresses.
 * @throws JanusError JANUS_ERR_KEY_INVALID (keys), or the listen error (EADDRINUSE...).
 */
export async function createGateway(cfg: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? pino({ level: cfg.log.level, base: { gateway: cfg.gateway.id } });
  const fds = checkDescriptorBudget(cfg, opts.openFileLimit === undefined ? readOpenFileLimit() : opts.openFileLimit);
  if (fds.exceeded) {
    // A warning, not a refusal: the default maxConnections (100000) is above many hosts' ulimit,
    // and a gateway far below its maximum works; past the limit accepts fail (EMFILE, logged).
    log.warn(
      { maxConnections: fds.connections, ownDescriptors: fds.own, openFileLimit: fds.limit },
      'limits.maxConnections plus the gateway\'s own descriptors exceed the open-file limit (ulimit -n): raise the limit or lower maxConnections',
    );
  }
  const clock = opts.clock ?? systemClock;
  // Tracing off: no OpenTelemetry SDK or exporter is loaded (tracing.ts imports them).
  const tracing: GatewayTracing | null = cfg.tracing.enabled
    ? await (await import('./tracing.js')).GatewayTracing.start(cfg, log, clock, opts.tracerProvider)
    : null;
  // `cfg` and `keys` are the running ones: a reload reassigns them (the Reloader's apply hook below).
  let keys = opts.keys ?? loadKeyRing(cfg);
  const wsTls = cfg.listen.ws.tls ? loadListenerTls(cfg.listen.ws.tls) : null;
  const trusted = new TrustedProxies(cfg.listen.trustedProxies);
  // With etcd the instances come and go at run time: nothing to check at start.
  if (!opts.discovery && !cfg.discovery.etcd) checkStaticDiscovery(cfg, log);
  const ownPool = opts.handshakeCrypto ? null : new CryptoPool();
  const handshakeCrypto = opts.handshakeCrypto ?? ownPool!;
  const sessions = new SessionRegistry<Connection>();
  const push = new PushService<Connection>(sessions);
  // The gRPC PushService (PROTOCOL.md 11). A fixed port is bound after this process's claim on
  // its address (a second gateway with the same address is refused by the claim, decision 0017);
  // port 0 is bound first, since the bound port is part of the address.
  const startGrpc = (): Promise<PushGrpcServer> =>
    startPushGrpcServer(push, { host: cfg.listen.grpc.host, port: cfg.listen.grpc.port, log }).catch((err: Error) => {
      throw listenError(err, cfg.listen.grpc.host, cfg.listen.grpc.port, 'listen.grpc');
    });
  let grpc: PushGrpcServer | null = null;
  if (cfg.listen.grpc.port === 0) {
    try {
      grpc = await startGrpc();
    } catch (err) {
      await ownPool?.close();
      throw err;
    }
  }
  const gateAddress = `${cfg.gateway.advertiseHost}:${grpc?.port ?? cfg.listen.grpc.port}`;
  // Redis adapters only when configured: the import keeps ioredis out of a gateway without it.
  let redis: { routeTable: RouteTable; pushBus: PushBus; close(): Promise<void> } | null = null;
  const redisCfg = cfg.routeTable.redis;
  if (redisCfg && (!opts.routeTable || !opts.pushBus)) {
    try {
      // Not a runtime dependency: a gateway on the embedded defaults installs without ioredis.
      const { openRedisAdapters } = await importOptional('@janus/redis', 'routeTable.redis', 'install @janus/redis beside the gateway', () => import('@janus/redis'));
      redis = await openRedisAdapters(redisCfg);
    } catch (err) {
      await grpc?.close();
      await ownPool?.close();
      throw err;
    }
  }
  const routes = opts.routeTable ?? redis?.routeTable ?? new MemoryRouteTable(() => clock.monotonic());
  const bus = opts.pushBus ?? redis?.pushBus ?? new MemoryPushBus();
  const ownBus = opts.pushBus ? null : bus;
  const discoveryNames = [...new Set(Object.values(cfg.services).map((s) => s.discoveryName))];
  let etcd: Awaited<ReturnType<typeof openEtcd>> | null = null;
  if (!opts.discovery && cfg.discovery.etcd) {
    try {
      etcd = await openEtcd(cfg, discoveryNames, clock, log);
    } catch (err) {
      await grpc?.close();
      await redis?.close();
      await ownPool?.close();
      throw err;
    }
  }
  const discovery = opts.discovery ?? etcd?.discovery ?? new StaticDiscovery(cfg.discovery.static);
  // A backend message may carry up to maxInflateBytes of data (deflated on the way out) plus
  // its fields; anything larger is read by without its data and refused (reply too large)
  // instead of being buffered and stalling the event loop in zlib.
  const channels = new ChannelPool(
    cfg.tunnel.channelsPerInstance,
    cfg.timeouts.tunnelConnectMs,
    cfg.timeouts.tunnelHalfCloseMs,
    Math.max(cfg.limits.maxInflateBytes, cfg.limits.maxFrameBytes) + TUNNEL_FIELDS_HEADROOM_BYTES,
    cfg.tunnel,
    clock,
  );
  // Connections to an instance discovery removed close once their streams end.
  onAddressesGone(discovery, discoveryNames, (address) => channels.retire(address));
  await untilReady(discovery, cfg.discovery.etcd?.startWaitMs ?? 0, clock, log);
  const coalescer = new WriteCoalescer();
  const handshakes = new HandshakeAdmission(cfg.limits, clock.monotonic());
  const pushChannel = new PushChannel<Connection>({
    bus,
    service: push,
    session: (uid) => sessions.get(uid),
    routes,
    gateAddress,
    broadcastChannel: cfg.push.broadcastChannel,
    log,
  });
  // The HTTP push routes of a gateway in a cluster (Redis, or a push bus given) reach users on
  // any gateway (decision 0023); a gateway alone serves them from its own sessions.
  const httpPush = redis || opts.pushBus
    ? new ClusterPush<Connection>({
        local: push,
        routes,
        bus,
        gateAddress,
        broadcastChannel: cfg.push.broadcastChannel,
        colors: () => ['', ...new Set(discovery.instances(cfg.services.player!.discoveryName).map((i) => i.color).filter((c) => c !== ''))],
      })
    : push;
  const claim = new GatewayAddressClaim(routes, gateAddress, gatewayInstanceId(cfg.gateway.id), cfg.routeTable.ownerClaimTtlS, clock, log);
  const connections = new Set<Connection>();
  const perAddress = new Map<string, number>();
  let nextId = 1;
  let shuttingDown = false;
  let listening = false;
  let closedAll: (() => void) | null = null;
  const repeat = new RepeatLog(log, clock, cfg.log.repeatIntervalMs, cfg.log.repeatBurst);
  const metrics = new GatewayMetrics(cfg, {
    sessions: () => sessions.size,
    liveBytes: () => {
      const b = { tcp: { read: 0, written: 0 }, ws: { read: 0, written: 0 } };
      for (const c of connections) {
        const t = b[c.transport.kind];
        t.read += c.transport.bytesRead;
        t.written += c.transport.bytesWritten;
      }
      return b;
    },
    openTunnels: () => channels.openByService(),
  });

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
    repeat,
    metrics,
    clock,
    tracing,
    shuttingDown: () => shuttingDown,
    onClosed(conn) {
      const e = conn.ended!;
      metrics.connectionClosed(conn.transport.kind, { read: conn.transport.bytesRead, written: conn.transport.bytesWritten }, e.reason, e.logout, e.close);
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
    const refusal: RefusalReason | null = shuttingDown
      ? 'shutting_down'
      : connections.size >= maxConnections
        ? 'max_connections'
        : maxConnectionsPerAddress > 0 && (perAddress.get(a) ?? 0) >= maxConnectionsPerAddress
          ? 'max_connections_per_address'
          : !handshakes.admit(a, clock.monotonic())
            ? 'handshake_rate'
            : null;
    if (refusal) {
      metrics.refused[refusal].n++;
      repeat.log('info', `refused:${refusal}`, log, { reason: refusal, transport: t.kind }, 'connection refused at accept (ServerLogout Waiting)');
      t.attach({ onBody() {}, onProtocolError() {}, onClose: () => metrics.addClosedBytes(t.kind, { read: t.bytesRead, written: t.bytesWritten }) });
      t.send(encodePacket(serverLogoutPacket(SCServerLogout_Code.Waiting, Math.floor(clock.now() / 1000))));
      t.close({ kind: 'end', wsCode: wsCodeForLogout(SCServerLogout_Code.Waiting, shuttingDown) }, cfg.timeouts.logoutFlushMs);
      return;
    }
    perAddress.set(a, (perAddress.get(a) ?? 0) + 1);
    const conn = new Connection(nextId++, t, ctx);
    connections.add(conn);
    metrics.connectionOpened(t.kind);
    conn.start();
  };

  /** Sockets of trusted proxies whose PROXY header is still being read (not yet admitted). */
  const awaitingHeader = new Set<Socket>();
  const tcpServer = createTcpServer({ noDelay: true }, (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (!cfg.listen.tcp.proxyProtocol || !trusted.has(peer)) {
      admit(new TcpTransport(socket, cfg.limits.maxFrameBytes, coalescer, clock));
      return;
    }
    // Admission waits for the header: the limits count the client's address, not the proxy's.
    awaitingHeader.add(socket);
    readProxyHeader(socket, cfg.timeouts.handshakeMs, clock).then(
      (h) => {
        awaitingHeader.delete(socket);
        if (shuttingDown) socket.destroy();
        else admit(new TcpTransport(socket, cfg.limits.maxFrameBytes, coalescer, clock, h.source ?? peer));
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
  // Under TLS, req.socket is the TLSSocket, which cannot send a RST (resetAndDestroy needs a
  // TCP handle); the TCP socket under it can. Found by the peer's address and port, which
  // are unique among one listener's connections.
  const tcpUnderTls = new Map<string, Socket>();
  const peerKey = (s: Socket): string => `${s.remoteAddress}|${s.remotePort}`;
  if (wsTls) {
    httpServer.on('connection', (raw: Socket) => {
      const k = peerKey(raw);
      tcpUnderTls.set(k, raw);
      raw.once('close', () => tcpUnderTls.delete(k));
    });
  }
  const wsTcpSocket = (req: IncomingMessage): Socket => tcpUnderTls.get(peerKey(req.socket)) ?? req.socket;
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
  wss.on('connection', (ws: WebSocket, req) => admit(new WsTransport(ws, wsTcpSocket(req), wsClientAddress(req), clock)));
  // ws re-emits the HTTP server's errors; the listen failure is reported by listen() alone.
  wss.on('error', () => {});

  /** Closes the route table (always), the push bus (unless the caller's) and the Redis connections. */
  const closeStores = async (): Promise<void> => {
    if (routes !== redis?.routeTable) await routes.close();
    if (ownBus && ownBus !== redis?.pushBus) await ownBus.close();
    if (redis) await redis.close();
  };
  /** Undoes what start-up did so far when a later step fails. */
  const stopAll = async (): Promise<void> => {
    tcpServer.close();
    httpServer.close();
    wss.close();
    await pushChannel.stop().catch(() => {});
    await grpc?.close();
    await claim.release();
    await closeStores();
    await discovery.close();
    await ownPool?.close();
  };
  // One sample a second for the dashboard (read at sample time: nothing per message).
  const sampler = new DashboardSampler(metrics, clock, () => dashboardBackends(), { gatewayId: cfg.gateway.id });
  let tcpPort: number;
  let wsPort: number;
  let mgmt: ManagementServer | null = null;
  try {
    // One running gateway per advertised address, then its channels, then the listeners.
    await claim.acquire();
    grpc ??= await startGrpc();
    await pushChannel.start();
    tcpPort = await listen(tcpServer, cfg.listen.tcp.host, cfg.listen.tcp.port, 'listen.tcp');
    wsPort = await listen(httpServer, cfg.listen.ws.host, cfg.listen.ws.port, 'listen.ws');
    if (cfg.management.enabled) {
      mgmt = await startManagementServer(
        {
          live: () => !shuttingDown,
          ready: () => readiness(),
          connections: (limit) => connectionStats(limit),
          routes: () => routeStats(),
          metrics,
          dashboard: () => sampler.snapshot(),
          logLevel: () => log.level,
          setLogLevel: (level) => setLogLevel(level),
          reload: () => Promise.resolve(reloader.reload('api')),
          push: httpPush,
        },
        { host: cfg.management.host, port: cfg.management.port, ...(cfg.management.adminToken ? { adminToken: cfg.management.adminToken } : {}) },
      ).catch((err: Error) => {
        throw listenError(err, cfg.management.host, cfg.management.port, 'management');
      });
    }
  } catch (err) {
    await stopAll();
    channels.close();
    await etcd?.registry.close();
    throw err;
  }
  listening = true;
  /** The gRPC PushService's bound port (started above, whatever listen.grpc.port asked for). */
  const grpcPort = grpc!.port;
  // A Redis that came back (perhaps restarted empty): write back every open session's entry.
  const offRecovered = (routes as Recoverable).onRecovered?.(() => {
    log.info({ sessions: sessions.size }, 'route table reachable again; writing back the gateway table entries');
    for (const c of [...sessions.values()]) c.restoreGateEntry().catch((err: unknown) => log.warn({ err }, 'gateway route reassert failed'));
  });
  const offBusRecovered = (bus as Recoverable).onRecovered?.(() => log.info('push channels subscribed again'));
  if (mgmt) sampler.start();
  // After listen(), an accept error (EMFILE, ENFILE, ENOBUFS...) must not crash the process;
  // it repeats on every accept while it lasts: one line per window with the count.
  const onServerError = (err: Error): void => {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    repeat.log('error', `listener error:${code}`, log, { errno: code, err: err.message }, `listener error ${code}`, 1);
  };
  tcpServer.on('error', onServerError);
  httpServer.on('error', onServerError);
  log.info(
    {
      tcp: `${cfg.listen.tcp.host}:${tcpPort}`,
      ws: `${cfg.listen.ws.host}:${wsPort}${cfg.listen.ws.path}`,
      management: mgmt ? `http://${mgmt.host}:${mgmt.port}` : null,
      grpc: `${cfg.listen.grpc.host}:${grpcPort}`,
      wsTls: wsTls !== null,
      encrypted: cfg.encrypted,
      ...(tracing ? { tracing: opts.tracerProvider ? 'caller provider' : `${cfg.tracing.otlp.protocol} ${cfg.tracing.otlp.endpoint}` } : {}),
      ...(trusted.size > 0 ? { proxyProtocol: cfg.listen.tcp.proxyProtocol, forwardedFor: cfg.listen.ws.forwardedFor } : {}),
    },
    'gateway listening',
  );
  // Registered once it listens; kept alive (and re-created after a loss) in the background.
  const registration =
    etcd && cfg.discovery.etcd!.register
      ? etcd.registry.register({ id: cfg.gateway.id, name: GATE_DISCOVERY_NAME, version: '', metadata: {}, endpoints: gatewayEndpoints(cfg, grpcPort, mgmt?.port ?? null) })
      : null;

  function setLogLevel(level: LogLevel): void {
    log.level = level;
    for (const c of connections) c.setLogLevel(level);
    log.info({ level }, 'log level changed');
  }

  async function readiness(): Promise<ReadyReport> {
    const discovered = (name: string) => discovery.instances(name);
    const backends: ReadyReport['backends'] = {};
    await Promise.all(
      Object.entries(cfg.services).map(async ([name, svc]) => {
        const list = discovered(svc.discoveryName);
        const ok = await Promise.all(list.map((i) => channels.reachable(i.address)));
        backends[name] = { discoveryName: svc.discoveryName, instances: list.length, reachable: ok.filter(Boolean).length };
      }),
    );
    const keysOk = keys.tokenKeys.length > 0 && keys.serverKeys.size > 0 && (!cfg.encrypted || keys.clientKeys.size > 0);
    const up = listening && !shuttingDown;
    return {
      ready: up && keysOk && Object.values(backends).every((b) => b.reachable > 0),
      listening: up,
      keys: { ok: keysOk, serverKeys: keys.serverKeys.size, clientKeys: keys.clientKeys.size, tokenKeys: keys.tokenKeys.length },
      backends,
    };
  }

  function connectionStats(limit: number): unknown {
    const byState: Record<string, number> = { handshaking: 0, authenticating: 0, open: 0, closing: 0 };
    const byTransport = { tcp: 0, ws: 0 };
    const list: unknown[] = [];
    const now = clock.monotonic();
    for (const c of connections) {
      byState[c.state] = (byState[c.state] ?? 0) + 1;
      byTransport[c.transport.kind]++;
      if (list.length < limit) list.push(describeConnection(c, now));
    }
    return { active: connections.size, sessions: sessions.size, byTransport, byState, listed: list.length, connections: list };
  }

  function routeStats(): unknown {
    const services: Record<string, unknown> = {};
    const open = channels.openByService();
    for (const [name, svc] of Object.entries(cfg.services)) {
      services[name] = {
        path: svc.path,
        discoveryName: svc.discoveryName,
        tunnelsOpen: open.get(name) ?? 0,
        instances: discovery.instances(svc.discoveryName).map((i) => ({ ...i, tunnelsOpen: channels.openToAddress(i.address) })),
      };
    }
    return { modules: cfg.modules, routes: cfg.routes, services };
  }
  /** The services, their instances (ids, no addresses) and open tunnels, for the dashboard. */
  function dashboardBackends(): DashboardBackend[] {
    const open = channels.openByService();
    return Object.entries(cfg.services).map(([name, svc]) => ({
      service: name,
      discoveryName: svc.discoveryName,
      tunnelsOpen: open.get(name) ?? 0,
      instances: discovery.instances(svc.discoveryName).map((i) => ({ id: i.id, color: i.color, weight: i.weight, tunnelsOpen: channels.openToAddress(i.address) })),
    }));
  }
  const reloader = new Reloader({
    config: cfg,
    keys: opts.keys ? null : keys,
    tls: wsTls,
    staticDiscovery: discovery instanceof StaticDiscovery,
    source: opts.configSource ?? null,
    clock,
    log,
    apply: ({ previous, config, keys: ring, tls }) => {
      // What can throw first (reload.ts refuses the reload then), the plain swaps after.
      if (!opts.discovery && !config.discovery.etcd) checkStaticDiscovery(config, log);
      if (discovery instanceof StaticDiscovery) discovery.update(config.discovery.static);
      if (tls) (httpServer as HttpsServer).setSecureContext(tls);
      const router = new Router(config, ctx.router);
      cfg = config;
      ctx.cfg = config;
      if (ring) keys = ctx.keys = ring;
      ctx.handshake = { ...ctx.handshake, clientKeys: keys.clientKeys, serverKeys: keys.serverKeys, handshakeSkew: config.timeouts.handshakeSkewS };
      ctx.router = router;
      handshakes.setLimits(config.limits);
      // Only a changed log.level: a level set at runtime survives a reload that does not touch it.
      if (config.log.level !== previous.log.level) setLogLevel(config.log.level);
    },
    ...(opts.onReload ? { onReload: opts.onReload } : {}),
  });

  let closing: Promise<void> | null = null;
  return {
    get config() {
      return cfg;
    },
    tcpPort,
    wsPort,
    sessions,
    discovery,
    push,
    pushChannel,
    gateAddress,
    grpcPort,
    instanceId: claim.instanceId,
    management: mgmt ? { host: mgmt.host, port: mgmt.port } : null,
    metrics,
    get logLevel() {
      return log.level;
    },
    setLogLevel,
    get connectionCount() {
      return connections.size;
    },
    reload(trigger = 'api') {
      return Promise.resolve(reloader.reload(trigger));
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        reloader.close();
        sampler.close();
        // Out of the registry first, so nothing new is sent this way while sessions drain;
        // the revoke (at most requestTimeoutMs) runs alongside the drain.
        const deregistered = registration?.close();
        tcpServer.close();
        httpServer.close();
        offRecovered?.();
        offBusRecovered?.();
        await pushChannel.stop().catch((err: unknown) => log.warn({ err }, 'push channel unsubscribe failed'));
        for (const s of awaitingHeader) s.destroy();
        const done = new Promise<void>((resolve) => {
          closedAll = resolve;
          if (connections.size === 0) resolve();
        });
        for (const c of [...connections]) c.logout(SCServerLogout_Code.Waiting, 'shutdown');
        let timer: TimerHandle | undefined;
        await Promise.race([done, new Promise<void>((r) => (timer = clock.setTimeout(r, cfg.timeouts.shutdownMs)))]);
        if (timer) clock.clearTimeout(timer);
        for (const c of connections) c.transport.close({ kind: 'destroy', wsCode: WsCode.GoingAway }, 0);
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        httpServer.closeAllConnections();
        channels.close();
        await grpc?.close();
        await claim.release();
        await closeStores();
        await deregistered;
        await discovery.close();
        await etcd?.registry.close();
        await ownPool?.close();
        await mgmt?.close();
        repeat.close();
        // After every connection closed (their waiting spans ended): export what is queued.
        await tracing?.shutdown();
        log.info('gateway stopped');
      })();
      return closing;
    },
  };
}
