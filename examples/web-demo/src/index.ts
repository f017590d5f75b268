/**
 * @janus/web-demo: the browser demo of the client SDK, served by `npm start` (`janus demo`)
 * next to the gateway and the demo backend (docs/demo.md, "Web demo"). One small HTTP server:
 *
 * - `GET /` the page, `GET /style.css`, `GET /assets/*` the page's script: page/app.ts
 *   bundled with the SDK's browser entry by esbuild when the server starts (in memory);
 * - `POST /token` `{"name":"alice"}` -> `{"token", "uid", "name", "expiresAt", "gateway",
 *   "clientKeyPem", "clientCertVersion", "serverKeys"}`: a development token (status DEV)
 *   for the name, and what the SDK needs to reach the gateway. 400 `{"error"}` for a bad name.
 *
 * It hands a token to whoever asks: bind it to a loopback address only (the default).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ErrorCode, isJanusError, JanusError, type CryptoBackend } from '@janus/protocol';
import { DevTokenIssuer } from './tokens.js';

export { DevTokenIssuer, checkName, MAX_NAME_LENGTH, FIRST_WEB_UID, type IssuedToken } from './tokens.js';

/** The demo's default port: the next one after the gateway's 17001 (TCP) and 17002 (WebSocket). */
export const WEB_DEMO_PORT = 17003;
/** Largest POST /token body (bytes). */
const MAX_BODY_BYTES = 1024;

/** Where the page's SDK finds the gateway's WebSocket listener. */
export interface GatewayAddress {
  /** Host as the browser reaches it; `0.0.0.0` / `::` mean "the page's own host". */
  host: string;
  port: number;
  /** WebSocket path, e.g. `/ws`. */
  path: string;
  /** The listener speaks TLS (`wss://`; `listen.ws.tls`). Absent: `wss://` only when the page itself came over https. */
  tls?: boolean;
}

/** Options of {@link startWebDemo}. */
export interface WebDemoOptions {
  /** Address to bind (default use: 127.0.0.1). */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  gateway: GatewayAddress;
  /** The gateway's token key (32 bytes), to seal dev tokens with. */
  tokenKey: Uint8Array;
  /** Client signing key (PKCS#8 PEM) given to the page; public in practice (PROTOCOL.md 5). */
  clientKeyPem: string;
  clientCertVersion: number;
  /** The server public keys (SPKI PEM) by version, for the page to pin. */
  serverKeys: Record<number, string>;
  /** For sealing tokens. */
  crypto: CryptoBackend;
  /** Token lifetime (s), default 3600. */
  tokenTtlS?: number;
  /** The tokens' server_id, default 1n. */
  serverId?: bigint;
}

/** A running web demo. */
export interface WebDemo {
  /** The bound port. */
  readonly port: number;
  /** `http://host:port/` */
  readonly url: string;
  /** Stops listening and drops open connections. Idempotent. */
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url)); // examples/web-demo/dist/src
const PAGE_DIR = join(here, '..', '..', 'page');
const APP_ENTRY = join(here, '..', 'page', 'app.js');

/** The page's script and its chunks, bundled for browsers: file name -> contents. */
async function bundlePage(): Promise<Map<string, Uint8Array>> {
  const outdir = '/assets';
  const r = await build({
    entryPoints: { app: APP_ENTRY },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    minify: true,
    outdir,
    write: false,
    logLevel: 'silent',
  });
  return new Map(r.outputFiles.map((f) => [f.path.slice(outdir.length + 1), f.contents]));
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/** The request body as JSON, at most MAX_BODY_BYTES. @throws JanusError JANUS_ERR_ARG_INVALID. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new JanusError(ErrorCode.ArgInvalid, `body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new JanusError(ErrorCode.ArgInvalid, 'body is not JSON');
  }
}

/**
 * Bundles the page and starts serving it.
 * @throws the esbuild error when the page does not bundle (run `tsc -b` first); the listen
 *   error (e.g. EADDRINUSE) when the address cannot be bound.
 */
export async function startWebDemo(o: WebDemoOptions): Promise<WebDemo> {
  const [assets, html, css] = await Promise.all([bundlePage(), readFile(join(PAGE_DIR, 'index.html')), readFile(join(PAGE_DIR, 'style.css'))]);
  const issuer = new DevTokenIssuer(o.crypto, o.tokenKey, o.tokenTtlS ?? 3600, o.serverId ?? 1n);

  const onToken = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const body = await readJson(req);
      const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
      const t = await issuer.issue(name, Date.now() / 1000);
      sendJson(res, 200, {
        token: t.token,
        uid: String(t.uid),
        name: t.name,
        expiresAt: t.expiresAt,
        gateway: o.gateway,
        clientKeyPem: o.clientKeyPem,
        clientCertVersion: o.clientCertVersion,
        serverKeys: o.serverKeys,
      });
    } catch (err) {
      if (isJanusError(err, ErrorCode.ArgInvalid)) sendJson(res, 400, { error: err.message });
      else sendJson(res, 500, { error: 'could not issue a token' });
    }
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/token') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
      void onToken(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only');
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', html);
    if (path === '/style.css') return send(res, 200, 'text/css; charset=utf-8', css);
    const asset = path.startsWith('/assets/') ? assets.get(path.slice('/assets/'.length)) : undefined;
    if (asset) return send(res, 200, 'text/javascript; charset=utf-8', asset);
    send(res, 404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    port,
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
