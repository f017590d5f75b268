/**
 * Gateway configuration: one YAML file plus environment overrides for secrets, validated
 * once at the edge by a zod schema (unknown keys rejected, the bad key named), then frozen.
 * Every key, its default and unit: docs/configuration.md.
 */
import { constants as bufferConstants } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  ErrorCode,
  grpcAddress,
  JanusError,
  MAX_FRAME_BYTES_CEILING,
  MIN_FRAME_BYTES_SETTING,
  MIN_IDLE_TIMEOUT_MS,
  ETCD_DEFAULTS,
  PUSH_BROADCAST_CHANNEL,
  TUNNEL_PATHS,
} from '@janus/protocol';
import { TrustedProxies } from './client-address.js';

/** Node's largest Buffer (bytes): zlib refuses an output limit above it, so every inflate would fail. */
const MAX_BUFFER_BYTES = bufferConstants.MAX_LENGTH;

const port = z.number().int().min(0).max(65535);

/** pino levels the gateway accepts (log.level, JANUS_LOG_LEVEL, the log-level admin route). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];
const listener = (defPort: number, defHost: string) =>
  z.strictObject({ host: z.string().min(1).default(defHost), port: port.default(defPort) }).prefault({});

const instanceSchema = z.strictObject({
  id: z.string().min(1),
  /** Endpoints such as `grpc://host:port`, `http://host:port` (Kratos layout, PROTOCOL.md 10); the first grpc one is used. */
  endpoints: z
    .array(z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/[^/\s?]+:\d+$/, 'must be scheme://host:port'))
    .min(1)
    .refine((l) => grpcAddress(l) !== null, 'needs a grpc://host:port endpoint'),
  metadata: z
    .strictObject({ color: z.string().default(''), weight: z.number().int().min(1).default(100) })
    .prefault({}),
});

const etcdSchema = z.strictObject({
  /** etcd client URLs (`http://host:port`), at least one. */
  endpoints: z.array(z.string().regex(/^http:\/\/[^/\s]+:\d+\/?$/, 'must be http://host:port')).min(1),
  /** Registry key prefix (Kratos: /microservices): keys are {prefix}/{name}/{id}. */
  prefix: z.string().regex(/^\/\S*[^/\s]$/, 'must start with "/" and not end with one').default(ETCD_DEFAULTS.prefix),
  /** TTL of this gateway's registration lease (s); etcd's minimum is 2. */
  leaseTtlS: z.number().int().min(2).default(ETCD_DEFAULTS.leaseTtlS),
  /** Wait for a connection to etcd before a call fails (ms). */
  dialTimeoutMs: z.number().int().min(1).default(ETCD_DEFAULTS.dialTimeoutMs),
  /** Deadline of each etcd call: list, put, lease grant, keepalive, revoke (ms). */
  requestTimeoutMs: z.number().int().min(1).default(ETCD_DEFAULTS.requestTimeoutMs),
  /** First retry delay after an etcd failure (ms); doubles per failure, jittered to [d/2, d). */
  backoffMinMs: z.number().int().min(1).default(ETCD_DEFAULTS.backoffMinMs),
  /** Largest retry delay (ms). */
  backoffMaxMs: z.number().int().min(1).default(ETCD_DEFAULTS.backoffMaxMs),
  /** At start, wait at most this long for the first instance lists (ms); past it the gateway starts on what it has and keeps trying. */
  startWaitMs: z.number().int().min(0).default(5000),
  /** Register this gateway as janus.gate.interface. */
  register: z.boolean().default(true),
});

const serviceSchema = z.strictObject({
  /** gRPC method path of the service's Tunnel rpc. */
  path: z.string().regex(/^\/[^/]+\/[^/]+$/, 'must be /package.Service/Method'),
  /** Discovery name (etcd key segment; the static instance list's key). */
  discoveryName: z.string().min(1),
});

/** Default of limits.sendQueueBytes when maxFrameBytes is at most this (bytes). */
const DEFAULT_SEND_QUEUE_BYTES = 4 * 1024 * 1024;

const redisSchema = z.strictObject({
  /** `host:port`: the server (standalone: exactly one), or a Redis Cluster's seed nodes. */
  nodes: z.array(z.string().regex(/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port')).min(1),
  /** true: Redis Cluster. */
  cluster: z.boolean().default(false),
  /** Database number (standalone only). */
  db: z.number().int().min(0).default(0),
  username: z.string().min(1).optional(),
  /** Prefer the JANUS_REDIS_PASSWORD environment variable to writing it here. */
  password: z.string().min(1).optional(),
  /** A command without a reply within this fails (ms): routing decisions never wait longer. */
  commandTimeoutMs: z.number().int().min(10).default(1000),
  /** Connect bound per attempt, and at start-up (ms). */
  connectTimeoutMs: z.number().int().min(10).default(3000),
  /** Reconnect backoff: first delay and cap (ms); each delay is drawn from its upper half (jitter). */
  reconnectMinMs: z.number().int().min(1).default(100),
  reconnectMaxMs: z.number().int().min(1).default(5000),
});

const DEFAULT_MODULES: Record<string, { name: string; service: string }> = {
  '2': { name: 'dev', service: 'player' },
  '3': { name: 'player', service: 'player' },
  '4': { name: 'room', service: 'room' },
  '5': { name: 'team', service: 'player' },
  '6': { name: 'fight', service: 'player' },
  '7': { name: 'chat', service: 'player' },
  '8': { name: 'notice', service: 'player' },
  '9': { name: 'activity', service: 'player' },
  '10': { name: 'mail', service: 'player' },
  '11': { name: 'guild', service: 'player' },
};

/** The configuration schema (PROTOCOL.md names and defaults). */
export const configSchema = z.strictObject({
  gateway: z
    .strictObject({
      /** Instance id (logs, discovery). */
      id: z.string().min(1).default('janus-1'),
      /** Host other services reach this gateway at: x-md-global-gate-referer, gateway route table. */
      advertiseHost: z.string().min(1).default('127.0.0.1'),
    })
    .prefault({}),
  listen: z
    .strictObject({
      tcp: z
        .strictObject({
          host: z.string().min(1).default('0.0.0.0'),
          port: port.default(17001),
          /** Expect a PROXY protocol v1/v2 header from every connection of a trusted proxy (listen.trustedProxies). */
          proxyProtocol: z.boolean().default(false),
        })
        .prefault({}),
      ws: z
        .strictObject({
          host: z.string().min(1).default('0.0.0.0'),
          port: port.default(17002),
          path: z.string().startsWith('/').default('/ws'),
          /** wss://: certificate chain and key PEM files (relative to the config file). Read at start. */
          tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
          /** Take the client address from X-Forwarded-For of a trusted proxy's upgrade request. */
          forwardedFor: z.boolean().default(false),
        })
        .prefault({}),
      grpc: listener(19100, '127.0.0.1'),
      /** Peers whose PROXY header / X-Forwarded-For is believed: IP addresses and CIDR ranges. */
      trustedProxies: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  /** false: plaintext sessions (development); client ports then default to 127.0.0.1. */
  encrypted: z.boolean().default(true),
  keys: z
    .strictObject({
      /** A directory laid out by `janus keygen` (server-vN.key.pem, client-vN.pub.pem, token.key). */
      dir: z.string().min(1, 'is empty: leave it out, or name a directory written by janus keygen').optional(),
      /** Server signing keys: version -> PKCS#8 PEM file. */
      serverKeys: z.record(z.string().regex(/^[1-9]\d*$/), z.string()).default({}),
      /** Client public keys: version -> SPKI PEM file. */
      clientKeys: z.record(z.string().regex(/^[1-9]\d*$/), z.string()).default({}),
      /** Token key files (standard base64 of 32 bytes); the first one issues. */
      tokenKeys: z.array(z.string()).default([]),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest frame body in either direction (bytes), 256 B..16 MiB. PROTOCOL.md 2. */
      maxFrameBytes: z.number().int().min(MIN_FRAME_BYTES_SETTING).max(MAX_FRAME_BYTES_CEILING).default(65536),
      /** Largest inflated size of a compressed Packet's data (bytes), at most Node's largest Buffer. PROTOCOL.md 8. */
      maxInflateBytes: z.number().int().min(1).max(MAX_BUFFER_BYTES).default(1024 * 1024),
      /** Deflate data of outgoing Packets at least this long (bytes). PROTOCOL.md 8. */
      compressThreshold: z.number().int().min(1).default(4096),
      /** zlib level for outgoing data, 1 (fastest) .. 9. */
      compressLevel: z.number().int().min(1).max(9).default(1),
      /** Client connections at once; past it new ones get ServerLogout Waiting. */
      maxConnections: z.number().int().min(1).default(100000),
      /** Client connections at once per remote address; 0 = no limit. */
      maxConnectionsPerAddress: z.number().int().min(0).default(0),
      /**
       * Unsent bytes queued for one client beyond the frame being written before it is cut off
       * as a slow consumer; at least maxFrameBytes. Default max(4 MiB, maxFrameBytes).
       */
      sendQueueBytes: z.number().int().min(1024).default(DEFAULT_SEND_QUEUE_BYTES),
      /** Bytes of frames read ahead of processing per connection before its socket is paused. */
      inboxBytes: z.number().int().min(1024).default(256 * 1024),
      /** Client messages per second (token bucket rate) after login. */
      messagesPerSecond: z.number().min(1).default(200),
      /** Token bucket size (messages). */
      messageBurst: z.number().int().min(1).default(400),
      /** Over-limit messages within one second after which the connection ends with RateLimited. */
      rateLimitStrikes: z.number().int().min(1).default(200),
      /** Heartbeats per second per connection (token bucket rate); over it a heartbeat is refused like a request. */
      heartbeatsPerSecond: z.number().min(0.01).default(1),
      /** Heartbeat bucket size (heartbeats). */
      heartbeatBurst: z.number().int().min(1).default(10),
      /** Inflated bytes per second per connection (budget rate, bytes/s); the budget holds max(this, maxInflateBytes). */
      inflateBytesPerSecond: z.number().int().min(1024).default(1024 * 1024),
      /** zlib jobs (inflate and deflate) in the thread pool at once, for the whole gateway. */
      zlibConcurrency: z.number().int().min(1).max(64).default(4),
      /** Object tunnels (non-player streams) open per connection; one more closes the idlest first. */
      maxObjectTunnels: z.number().int().min(1).default(32),
      /** New connections (handshakes) per second in all; burst twice this. Past it: ServerLogout Waiting at accept. */
      handshakesPerSecond: z.number().min(1).default(1000),
      /** New connections (handshakes) per second from one address; burst twice this. */
      handshakesPerSecondPerAddress: z.number().min(0.01).default(100),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      /** CSHandshake and CSAuth must arrive within this of the connection's start (ms). */
      handshakeMs: z.number().int().min(1).default(5000),
      /** Allowed |CSHandshake.timestamp - now| (s). */
      handshakeSkewS: z.number().int().min(0).default(300),
      /** No frame from a client for this long closes it (ms); at least 60000 (3 heartbeat intervals). */
      idleMs: z.number().int().min(MIN_IDLE_TIMEOUT_MS).default(MIN_IDLE_TIMEOUT_MS),
      /** From CSAuth to SCAuth (token, route table, player tunnel) at most this long, else ServerLogout Waiting (ms). */
      loginMs: z.number().int().min(1).default(10000),
      /** Graceful shutdown bound (ms). */
      shutdownMs: z.number().int().min(0).default(10000),
      /** Wait for a backend channel to become ready when opening a tunnel (ms). */
      tunnelConnectMs: z.number().int().min(1).default(3000),
      /** After the gateway half-closes a tunnel, cancel it if the backend has not ended it within this (ms). */
      tunnelHalfCloseMs: z.number().int().min(0).default(5000),
      /** Wait for a ServerLogout to flush before destroying the socket (ms). PROTOCOL.md 2: 1 s. */
      logoutFlushMs: z.number().int().min(0).max(1000).default(1000),
    })
    .prefault({}),
  /** Module table: module id -> {name, service}. Replaces the default table when given. */
  modules: z.record(z.string().regex(/^\d+$/), z.strictObject({ name: z.string().min(1), service: z.string().min(1) })).default(DEFAULT_MODULES),
  /** (mod, seq) overrides of the module table. */
  routes: z.array(z.strictObject({ mod: z.number().int(), seq: z.number().int(), service: z.string().min(1) })).default([]),
  /** Backend services by name. `player` is the player service (keyed by uid, opened at login). */
  services: z
    .record(z.string().min(1), serviceSchema)
    .default({
      player: { path: TUNNEL_PATHS.player, discoveryName: 'roma.player.service' },
      room: { path: TUNNEL_PATHS.room, discoveryName: 'roma.room.service' },
    }),
  discovery: z
    .strictObject({
      /** Static instance lists by discovery name (the embedded default of PROTOCOL.md 10). */
      static: z.record(z.string(), z.array(instanceSchema)).default({}),
      /** etcd (PROTOCOL.md 10, Kratos layout): watch backends, register this gateway. Off when absent. */
      etcd: etcdSchema.optional(),
    })
    .prefault({}),
  routeTable: z
    .strictObject({
      /** TTL of route table entries (s). */
      ttlS: z.number().int().min(1).default(600),
      /** TTL of this gateway's claim on its advertised gRPC address (s), renewed every third (decision 0017). */
      ownerClaimTtlS: z.number().int().min(3).default(15),
      /** Redis (standalone or Redis Cluster) for the route tables and the cluster push channel; absent: in-process table. */
      redis: redisSchema.optional(),
    })
    .prefault({}),
  push: z
    .strictObject({
      /** The pub/sub channel every gateway acts on (PROTOCOL.md 11). The own channel is the gateway's gRPC host:port. */
      broadcastChannel: z.string().min(1).default(PUSH_BROADCAST_CHANNEL),
    })
    .prefault({}),
  tunnel: z
    .strictObject({
      /** HTTP/2 connections per backend instance; tunnel streams spread over them. */
      channelsPerInstance: z.number().int().min(1).max(16).default(2),
      /** HTTP/2 PING interval on a backend channel with open streams (ms), at least 100; default 5.5 min: above grpc-go's 5 min enforcement minimum (a server GOAWAYs pings more frequent). */
      keepaliveMs: z.number().int().min(100).default(330000),
      /** A PING unanswered this long closes the channel and fails its streams (ms). */
      keepaliveTimeoutMs: z.number().int().min(100).default(20000),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
      /** Window of repeated-event aggregation (ms): past `repeatBurst` lines of one event in it, the rest are counted and summed up in one line. */
      repeatIntervalMs: z.number().int().min(100).default(10000),
      /** Lines of one event (a close reason, a login, a refused handshake) logged per window before the rest are only counted. */
      repeatBurst: z.number().int().min(1).default(20),
    })
    .prefault({}),
  /** The management HTTP server (health, readiness, stats, metrics, admin routes). */
  management: z
    .strictObject({
      /** false: no management server. */
      enabled: z.boolean().default(true),
      /** Loopback by default: the admin routes are for operators. */
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(18100),
      /** Bearer token the admin routes (/stats/*, /v1/admin/*) require when set; JANUS_ADMIN_TOKEN overrides it. */
      adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** One request in this many is timed for the latency histograms (1: every request). */
      latencySampleEvery: z.number().int().min(1).max(65536).default(16),
      /** Node process metrics (CPU, memory, event-loop lag, GC) on /metrics. */
      processMetrics: z.boolean().default(true),
    })
    .prefault({}),
  /** Hot reload (reload.ts): what triggers one besides SIGHUP and Gateway.reload(). */
  reload: z
    .strictObject({
      /** Reload when the config file changes (fs.watch on its directory). Off by default. */
      watch: z.boolean().default(false),
      /** Quiet time after the last change event before the reload runs (ms). */
      debounceMs: z.number().int().min(10).max(60000).default(500),
    })
    .prefault({}),
  /** OpenTelemetry tracing (off by default): a span per client request, exported over OTLP. docs/operations.md#tracing. */
  tracing: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** Resource attribute service.name of the gateway's spans (service.instance.id is gateway.id). */
      serviceName: z.string().min(1).default('janus-gateway'),
      /** Share of client requests traced (root sampler ratio, 0..1); a traced request's backend span follows the decision. */
      sampleRatio: z.number().min(0).max(1).default(1),
      /** Request spans waiting for their reply per connection; one more ends the oldest (count). */
      maxOpenSpansPerConnection: z.number().int().min(1).max(65536).default(256),
      /** Ended spans queued for export; past it new spans are dropped (count). */
      maxQueueSpans: z.number().int().min(1).default(2048),
      /** Export a batch at least this often (ms). */
      exportDelayMs: z.number().int().min(1).default(5000),
      otlp: z
        .strictObject({
          /** OTLP/HTTP traces endpoint (the full URL, path included). */
          endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('http://127.0.0.1:4318/v1/traces'),
          /** http/protobuf or http/json. */
          protocol: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
          /** HTTP headers of every export request (e.g. a collector's auth header). */
          headers: z.record(z.string().min(1), z.string()).default({}),
          /** One export request at most this long (ms). */
          timeoutMs: z.number().int().min(1).default(10000),
        })
        .prefault({}),
    })
    .prefault({}),
});

/** The validated, frozen configuration. */
export type GatewayConfig = z.output<typeof configSchema>;
/** What a config file (or test) may give: everything optional. */
export type GatewayConfigInput = z.input<typeof configSchema>;

/** Freezes `o` and everything reachable from it (a validated config; reload.ts freezes the config it builds). */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * PROTOCOL.md 7: with `encrypted: false` the client ports bind to 127.0.0.1 unless
 * configured otherwise. Fills those hosts into a copy of the raw input before defaults apply.
 */
function plaintextOnLoopback(input: unknown): unknown {
  if (!input || typeof input !== 'object' || (input as { encrypted?: unknown }).encrypted !== false) return input;
  const raw = input as Record<string, unknown>;
  const listen = { ...((raw.listen as Record<string, unknown> | undefined) ?? {}) };
  for (const k of ['tcp', 'ws']) {
    const l = listen[k];
    if (l === undefined || (typeof l === 'object' && l !== null && !('host' in l))) {
      listen[k] = { ...((l as object | undefined) ?? {}), host: '127.0.0.1' };
    }
  }
  return { ...raw, listen };
}

/**
 * limits.sendQueueBytes defaults to max(4 MiB, maxFrameBytes): a frame limit raised past
 * 4 MiB raises the queue limit with it unless the queue limit is given. Fills it into a copy
 * of the raw input before defaults apply.
 */
function sendQueueDefault(input: unknown): unknown {
  if (!input || typeof input !== 'object') return input;
  const raw = input as Record<string, unknown>;
  const limits = raw.limits as Record<string, unknown> | undefined;
  if (!limits || typeof limits !== 'object' || limits.sendQueueBytes !== undefined) return input;
  const frame = limits.maxFrameBytes;
  if (typeof frame !== 'number' || !(frame > DEFAULT_SEND_QUEUE_BYTES)) return input;
  return { ...raw, limits: { ...limits, sendQueueBytes: frame } };
}

/**
 * Validates a configuration object, fills defaults, checks cross-references and freezes it.
 * @param fromEnv config key -> the environment variable its value came from (named in the error instead of the file).
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming the first bad key, e.g. `limits.maxFrameBytes: ...`
 *   (or the variable, e.g. `environment JANUS_LOG_LEVEL (config log.level): ...`).
 */
export function parseConfig(input: unknown, fromEnv: Readonly<Record<string, string>> = {}): GatewayConfig {
  const r = configSchema.safeParse(sendQueueDefault(plaintextOnLoopback(input ?? {})));
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    const variable = fromEnv[key];
    // A value from the environment is reported under its variable: the file does not hold it.
    if (variable) throw new JanusError(ErrorCode.ConfigInvalid, `environment ${variable} (config ${key}): ${issue.message}`, { key, variable });
    throw new JanusError(ErrorCode.ConfigInvalid, `config ${key}: ${issue.message}`, { key });
  }
  const cfg = r.data;
  // The slow-consumer check counts bytes beyond the frame being written, so a client holds at
  // most sendQueueBytes plus one frame; a queue limit below one frame would make that bound
  // the frame limit's, not the queue limit's (docs/decisions/0011-send-queue-frame-limit-and-closes.md).
  if (cfg.limits.sendQueueBytes < cfg.limits.maxFrameBytes) {
    throw new JanusError(
      ErrorCode.ConfigInvalid,
      `config limits.sendQueueBytes: must be at least limits.maxFrameBytes (${cfg.limits.maxFrameBytes}), got ${cfg.limits.sendQueueBytes}`,
      { key: 'limits.sendQueueBytes' },
    );
  }
  new TrustedProxies(cfg.listen.trustedProxies); // throws naming a bad entry
  if ((cfg.listen.tcp.proxyProtocol || cfg.listen.ws.forwardedFor) && cfg.listen.trustedProxies.length === 0) {
    const on = cfg.listen.tcp.proxyProtocol ? 'listen.tcp.proxyProtocol' : 'listen.ws.forwardedFor';
    throw new JanusError(ErrorCode.ConfigInvalid, `config listen.trustedProxies: ${on} is on but no proxy is trusted (list the proxies' addresses)`, {
      key: 'listen.trustedProxies',
    });
  }
  if (!cfg.services.player) throw new JanusError(ErrorCode.ConfigInvalid, 'config services: a "player" service is required', { key: 'services.player' });
  for (const [mod, m] of Object.entries(cfg.modules)) {
    if (mod === '1') throw new JanusError(ErrorCode.ConfigInvalid, 'config modules.1: module 1 (System) is the gateway\'s own', { key: 'modules.1' });
    if (!cfg.services[m.service]) {
      throw new JanusError(ErrorCode.ConfigInvalid, `config modules.${mod}.service: no service "${m.service}" in services`, { key: `modules.${mod}.service` });
    }
  }
  const etcd = cfg.discovery.etcd;
  if (etcd) {
    if (Object.keys(cfg.discovery.static).length > 0) {
      throw new JanusError(ErrorCode.ConfigInvalid, 'config discovery: give discovery.static or discovery.etcd, not both', { key: 'discovery.static' });
    }
    if (etcd.backoffMaxMs < etcd.backoffMinMs) {
      throw new JanusError(ErrorCode.ConfigInvalid, `config discovery.etcd.backoffMaxMs: must be >= backoffMinMs (${etcd.backoffMinMs})`, { key: 'discovery.etcd.backoffMaxMs' });
    }
  }
  cfg.routes.forEach((rt, i) => {
    if (!cfg.services[rt.service]) {
      throw new JanusError(ErrorCode.ConfigInvalid, `config routes.${i}.service: no service "${rt.service}" in services`, { key: `routes.${i}.service` });
    }
  });
  const redis = cfg.routeTable.redis;
  if (redis) {
    const bad = (key: string, msg: string): never => {
      throw new JanusError(ErrorCode.ConfigInvalid, `config routeTable.redis.${key}: ${msg}`, { key: `routeTable.redis.${key}` });
    };
    if (!redis.cluster && redis.nodes.length !== 1) bad('nodes', 'a standalone server takes exactly one node (cluster: true for a Redis Cluster)');
    if (redis.cluster && redis.db !== 0) bad('db', 'a Redis Cluster has only database 0');
    if (redis.reconnectMaxMs < redis.reconnectMinMs) bad('reconnectMaxMs', 'must be at least reconnectMinMs');
    for (const [i, n] of redis.nodes.entries()) {
      const port = Number(n.slice(n.lastIndexOf(':') + 1));
      if (!(port >= 1 && port <= 65535)) bad(`nodes.${i}`, 'port must be 1..65535');
    }
  }
  return deepFreeze(cfg);
}

/**
 * Reads a YAML config file, applies environment overrides, resolves relative key paths
 * against the file's directory, and validates.
 *
 * Relative `listen.ws.tls` file paths are resolved the same way.
 *
 * Environment: `JANUS_KEYS_DIR` (keys.dir), `JANUS_TOKEN_KEYS` (comma-separated standard
 * base64 token keys, used instead of keys.tokenKeys files), `JANUS_LOG_LEVEL` (log.level),
 * `JANUS_ADMIN_TOKEN` (management.adminToken), `JANUS_OTLP_HEADERS` (tracing.otlp.headers,
 * `name=value,...`: a collector's credentials stay out of the file), `JANUS_REDIS_PASSWORD`
 * (routeTable.redis.password, when routeTable.redis is configured); an empty variable counts
 * as unset. A bad value from one is reported under its name.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID (unreadable file, bad YAML, bad key).
 */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new JanusError(ErrorCode.ConfigInvalid, `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new JanusError(ErrorCode.ConfigInvalid, `config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const keys = { ...((obj.keys as Record<string, unknown> | undefined) ?? {}) };
  const fromEnv: Record<string, string> = {};
  if (env.JANUS_KEYS_DIR) {
    keys.dir = env.JANUS_KEYS_DIR;
    fromEnv['keys.dir'] = 'JANUS_KEYS_DIR';
  }
  const base = dirname(resolve(file));
  const abs = (p: unknown) => (typeof p === 'string' && !isAbsolute(p) ? resolve(base, p) : p);
  if (keys.dir !== undefined && keys.dir !== '') keys.dir = abs(keys.dir);
  for (const k of ['serverKeys', 'clientKeys'] as const) {
    if (keys[k] && typeof keys[k] === 'object') {
      keys[k] = Object.fromEntries(Object.entries(keys[k] as Record<string, unknown>).map(([v, p]) => [v, abs(p)]));
    }
  }
  if (Array.isArray(keys.tokenKeys)) keys.tokenKeys = keys.tokenKeys.map(abs);
  obj.keys = keys;
  const ws = (obj.listen as { ws?: { tls?: Record<string, unknown> } } | undefined)?.ws;
  if (ws?.tls && typeof ws.tls === 'object') {
    ws.tls = Object.fromEntries(Object.entries(ws.tls).map(([k, p]) => [k, k === 'certFile' || k === 'keyFile' ? abs(p) : p]));
  }
  if (env.JANUS_LOG_LEVEL) {
    obj.log = { ...((obj.log as object | undefined) ?? {}), level: env.JANUS_LOG_LEVEL };
    fromEnv['log.level'] = 'JANUS_LOG_LEVEL';
  }
  if (env.JANUS_ADMIN_TOKEN) {
    obj.management = { ...((obj.management as object | undefined) ?? {}), adminToken: env.JANUS_ADMIN_TOKEN };
    fromEnv['management.adminToken'] = 'JANUS_ADMIN_TOKEN';
  }
  if (env.JANUS_OTLP_HEADERS) {
    const tracing = { ...((obj.tracing as Record<string, unknown> | undefined) ?? {}) };
    tracing.otlp = { ...((tracing.otlp as object | undefined) ?? {}), headers: parseHeaderList('JANUS_OTLP_HEADERS', env.JANUS_OTLP_HEADERS) };
    obj.tracing = tracing;
    fromEnv['tracing.otlp.headers'] = 'JANUS_OTLP_HEADERS';
  }
  if (env.JANUS_REDIS_PASSWORD) {
    const rt = { ...((obj.routeTable as Record<string, unknown> | undefined) ?? {}) };
    if (rt.redis && typeof rt.redis === 'object') {
      rt.redis = { ...(rt.redis as Record<string, unknown>), password: env.JANUS_REDIS_PASSWORD };
      obj.routeTable = rt;
      fromEnv['routeTable.redis.password'] = 'JANUS_REDIS_PASSWORD';
    }
  }
  return parseConfig(obj, fromEnv);
}

/**
 * `name=value,name2=value2` (the format of OTEL_EXPORTER_OTLP_HEADERS; blanks around
 * entries, names and values are trimmed) as a header map.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming `variable` for an entry without a name.
 */
function parseHeaderList(variable: string, list: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of list.split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    const name = eq < 0 ? '' : entry.slice(0, eq).trim();
    if (name === '') throw new JanusError(ErrorCode.ConfigInvalid, `environment ${variable}: entries must be name=value`, { key: variable });
    headers[name] = entry.slice(eq + 1).trim();
  }
  return headers;
}
