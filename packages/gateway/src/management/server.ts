/**
 * The management HTTP server (default 127.0.0.1:18100, `management.*`): probes, stats,
 * Prometheus metrics and admin routes. Routes and their answers: docs/operations.md.
 *
 *   GET /health              liveness: 200 while the gateway runs (503 once it is closing)
 *   GET /ready               readiness: 200 when listening, keys loaded and every service
 *                            has a reachable backend instance; else 503, with each check
 *   GET /metrics             Prometheus text exposition (prom-client)
 *   GET /                    the live dashboard (one static HTML page, dashboard-page.ts)
 *   GET /stats/dashboard     the dashboard's data: the sampler's ring of 1 s samples (sampler.ts)
 *   GET /stats/connections   admin: connection counts by transport and state, a list of them
 *   GET /stats/routes        admin: module table, (mod, seq) routes, services, instances, tunnels
 *   GET|PUT /v1/admin/log-level  admin: the log level; PUT {"level":"debug"} changes it at runtime
 *   POST /v1/admin/reload    admin: reload the config (Gateway.reload('api')); 200 applied,
 *                            422 invalid config or key file, 503 no reload possible
 *   POST /v1/push/{push,multicast,broadcast,kick}  admin: the push API as JSON (PROTOCOL.md 11,
 *                            push/http-routes.ts); only with an admin token configured, else 404
 *
 * Admin routes require `Authorization: Bearer <management.adminToken>` when a token is
 * configured (compared in constant time); the probes, /metrics and the dashboard are open
 * (they carry no uid, address or secret; docs/decisions/0015-management-server.md,
 * 0021-dashboard.md).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ErrorCode } from '@janus/protocol';
import { LOG_LEVELS, type LogLevel } from '../config.js';
import type { PushOps } from '../push/api.js';
import { MAX_PUSH_HTTP_BODY_BYTES, PUSH_HTTP_ROUTES, runPushJson } from '../push/http-routes.js';
import type { ReloadResult } from '../reload.js';
import { DASHBOARD_CSP, DASHBOARD_HTML } from './dashboard-page.js';
import type { GatewayMetrics } from './metrics.js';
import type { DashboardSnapshot } from './sampler.js';
import { listenPort } from '../listen.js';

/** One readiness check's outcome. */
export interface ReadyReport {
  ready: boolean;
  /** Client listeners bound and the gateway not shutting down. */
  listening: boolean;
  /** Key counts loaded; `ok` when what the mode needs is there. */
  keys: { ok: boolean; serverKeys: number; clientKeys: number; tokenKeys: number };
  /** Per service: its discovery name, instances known, instances that accepted an HTTP/2 connection now. */
  backends: Record<string, { discoveryName: string; instances: number; reachable: number }>;
}

/** What the management server reads and changes in its gateway. */
export interface ManagementView {
  /** False once the gateway is closing. */
  live(): boolean;
  ready(): Promise<ReadyReport>;
  /** Connection counts and up to `limit` connections (JSON-safe). */
  connections(limit: number): unknown;
  /** Routing tables, services and instances with their open tunnels (JSON-safe). */
  routes(): unknown;
  metrics: GatewayMetrics;
  /** The dashboard sampler's samples, rates, backends and recent errors (aggregate only). */
  dashboard(): DashboardSnapshot;
  logLevel(): string;
  setLogLevel(level: LogLevel): void;
  /** Reloads the config (reload.ts); never rejects. */
  reload(): Promise<ReloadResult>;
  /** The push API served under /v1/push/... when an admin token is configured (push/cluster.ts on a cluster, else this gateway's PushService). */
  push?: PushOps;
}

/** Options of {@link startManagementServer}. */
export interface ManagementServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Bearer token of the admin routes; undefined: admin routes are open (loopback default). */
  adminToken?: string;
}

/** A running management server. */
export interface ManagementServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** Largest request body accepted (bytes): the admin routes take small JSON objects. */
const MAX_BODY_BYTES = 4096;
/** Default and ceiling of `/stats/connections?limit=`. */
const DEFAULT_CONNECTION_LIST = 100;
const MAX_CONNECTION_LIST = 10000;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** A bearer check in constant time (both sides hashed to 32 bytes first, so lengths do not leak). */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = digest(m ? m[1]! : '');
  return timingSafeEqual(given, expected) && m !== null;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { error: { code, message } }, headers);
}

/**
 * Reads a request body of at most `maxBytes` bytes as UTF-8.
 * @returns the body; or null when it is over `maxBytes`: then the answer has been given
 *   (400 JANUS_ERR_ARG_INVALID, `Connection: close`, see {@link refuseBody}) and the caller
 *   sends nothing.
 */
function readBody(req: IncomingMessage, res: ServerResponse, maxBytes = MAX_BODY_BYTES): Promise<string | null> {
  return new Promise((resolve, reject) => {
    let size = 0;
    let parts: Buffer[] = [];
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= maxBytes) {
        parts.push(c);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      parts = [];
      refuseBody(req, res, maxBytes, `request body over ${maxBytes} bytes`);
      resolve(null);
    };
    const onEnd = (): void => resolve(Buffer.concat(parts).toString('utf8'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

/**
 * Answers a body over its limit: 400 JANUS_ERR_ARG_INVALID with `Connection: close`,
 * written at once, and the connection closed only once the client has sent the rest of the
 * body, which is read and dropped. Why: a socket closed with unread bytes makes the kernel
 * answer with a reset, and a reset can discard the 400 before the client read it (the
 * client sees ECONNRESET instead). A client still sending `maxBytes` more after the answer
 * is cut off (destroyed) then; Node's request timeouts bound a slow one.
 */
function refuseBody(req: IncomingMessage, res: ServerResponse, maxBytes: number, message: string): void {
  const text = JSON.stringify({ error: { code: ErrorCode.ArgInvalid, message } }) + '\n';
  res.writeHead(400, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'close',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.write(text);
  let dropped = 0;
  let ended = false;
  const finish = (cut: boolean): void => {
    if (ended) return;
    ended = true;
    req.off('data', onData);
    res.end();
    if (cut) req.destroy();
  };
  const onData = (c: Buffer): void => {
    dropped += c.length;
    if (dropped > maxBytes) finish(true);
  };
  req.on('data', onData);
  req.once('end', () => finish(false));
  req.once('close', () => finish(false));
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
interface Route {
  admin: boolean;
  methods: Partial<Record<'GET' | 'PUT' | 'POST', Handler>>;
}

/**
 * Starts the management server on `o.host:o.port`.
 * @throws the listen error (EADDRINUSE, EACCES ...); the caller names the config key.
 */
export async function startManagementServer(view: ManagementView, o: ManagementServerOptions): Promise<ManagementServer> {
  const expected = o.adminToken === undefined ? null : digest(o.adminToken);
  const routes: Record<string, Route> = {
    '/health': {
      admin: false,
      methods: {
        GET: (_q, res) => (view.live() ? send(res, 200, { status: 'ok' }) : send(res, 503, { status: 'closing' })),
      },
    },
    '/ready': {
      admin: false,
      methods: {
        GET: async (_q, res) => {
          const r = await view.ready();
          send(res, r.ready ? 200 : 503, r);
        },
      },
    },
    '/metrics': {
      admin: false,
      methods: {
        GET: async (_q, res) => {
          const text = await view.metrics.scrape();
          res.writeHead(200, { 'content-type': view.metrics.contentType, 'cache-control': 'no-store' }).end(text);
        },
      },
    },
    '/': {
      admin: false,
      methods: {
        GET: (_q, res) => {
          res
            .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': DASHBOARD_CSP, 'x-content-type-options': 'nosniff' })
            .end(DASHBOARD_HTML);
        },
      },
    },
    '/stats/dashboard': { admin: false, methods: { GET: (_q, res) => send(res, 200, view.dashboard()) } },
    '/stats/connections': {
      admin: true,
      methods: {
        GET: (_q, res, url) => {
          const raw = url.searchParams.get('limit');
          const limit = raw === null ? DEFAULT_CONNECTION_LIST : Number(raw);
          if (!Number.isInteger(limit) || limit < 0 || limit > MAX_CONNECTION_LIST) {
            return sendError(res, 400, ErrorCode.ArgInvalid, `limit must be an integer from 0 to ${MAX_CONNECTION_LIST}, got ${JSON.stringify(raw)}`);
          }
          send(res, 200, view.connections(limit));
        },
      },
    },
    '/stats/routes': { admin: true, methods: { GET: (_q, res) => send(res, 200, view.routes()) } },
    '/v1/admin/log-level': {
      admin: true,
      methods: {
        GET: (_q, res) => send(res, 200, { level: view.logLevel() }),
        PUT: async (req, res) => {
          const text = await readBody(req, res);
          if (text === null) return;
          let level: unknown;
          try {
            level = (JSON.parse(text) as { level?: unknown } | null)?.level;
          } catch {
            return sendError(res, 400, ErrorCode.ArgInvalid, 'body must be JSON: {"level": "debug"}');
          }
          if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
            return sendError(res, 400, ErrorCode.ArgInvalid, `level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
          }
          view.setLogLevel(level as LogLevel);
          send(res, 200, { level: view.logLevel() });
        },
      },
    },
    '/v1/admin/reload': {
      admin: true,
      methods: {
        POST: async (_q, res) => {
          const r = await view.reload();
          send(res, r.ok ? 200 : r.error.code === ErrorCode.ReloadUnavailable ? 503 : 422, r);
        },
      },
    },
  };
  // The push API only behind a token (PROTOCOL.md 11): with none configured it is off (404).
  const pushOps = view.push;
  if (pushOps && expected) {
    for (const [path, name] of PUSH_HTTP_ROUTES) {
      routes[path] = {
        admin: true,
        methods: {
          POST: async (req, res) => {
            const text = await readBody(req, res, MAX_PUSH_HTTP_BODY_BYTES);
            if (text === null) return;
            const a = await runPushJson(pushOps, name, text);
            send(res, a.status, a.body);
          },
        },
      };
    }
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://management');
    const route = routes[url.pathname];
    if (!route) return sendError(res, 404, 'not_found', `no route ${url.pathname}`);
    if (route.admin && expected && !bearerMatches(req.headers.authorization, expected)) {
      return sendError(res, 401, 'unauthorized', 'this route needs Authorization: Bearer <management.adminToken>', { 'www-authenticate': 'Bearer realm="janus"' });
    }
    const handler = route.methods[req.method as 'GET' | 'PUT' | 'POST'];
    if (!handler) return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`, { allow: Object.keys(route.methods).join(', ') });
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 500, 'internal', (err as Error).message);
        else res.destroy();
      });
  });
  server.keepAliveTimeout = 5000;
  const port = await listenPort(server, o.host, o.port);
  let closing: Promise<void> | null = null;
  return {
    host: o.host,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
