/**
 * A tiny HTTP server for the browser tests: one HTML page and the files of an in-memory
 * bundle, on 127.0.0.1 with a free port. It records every path asked for, so a test can
 * see which chunks a page fetched.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BundleFile } from './bundle.js';

/** A running page server. */
export interface PageServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Every path requested, in order. */
  readonly requested: string[];
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * Serves `html` at `/` and each bundle file at `/<name>`; anything else is 404.
 */
export async function startPageServer(html: string, files: readonly BundleFile[]): Promise<PageServer> {
  const requested: string[] = [];
  const byPath = new Map(files.map((f) => [`/${f.name}`, f.contents]));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requested.push(path);
    const body = path === '/' ? html : byPath.get(path);
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': path === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requested,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** A page that loads one module script. */
export function modulePage(script: string, title: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${title}</title><script type="module" src="${script}"></script></head><body></body></html>`;
}
