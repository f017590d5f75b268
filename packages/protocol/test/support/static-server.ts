/**
 * Node side of test/browser.test.ts: a tiny static HTTP server for headless Chromium, and the
 * test page with its import map. No bundler: the browser loads the compiled ES modules of
 * @janus/protocol and @bufbuild/protobuf as they are on disk.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';

/** A URL prefix (starting and ending with `/`) served from a directory. */
export interface Mount {
  urlPrefix: string;
  dir: string;
}

/** A running server: its origin (`http://127.0.0.1:<port>`) and how to stop it. */
export interface StaticServer {
  origin: string;
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>;
  /** Paths that were asked for and answered 404 (for failure messages). */
  readonly missing: string[];
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/**
 * Serves `pages` (exact path -> HTML) and the files under `mounts`, GET only, on
 * 127.0.0.1 with a free port. A path outside every mount, a directory or a missing file
 * answers 404; nothing outside the mounted directories can be reached.
 */
export async function startStaticServer(mounts: readonly Mount[], pages: Readonly<Record<string, string>>): Promise<StaticServer> {
  const missing: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const send = (status: number, type: string, body: string | Uint8Array): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'GET only');
    const page = pages[path];
    if (page !== undefined) return send(200, CONTENT_TYPES['.html']!, page);
    const file = fileFor(mounts, path);
    if (file === null) {
      missing.push(path);
      return send(404, 'text/plain', 'not served');
    }
    readFile(file).then(
      (body) => send(200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', body),
      () => {
        missing.push(path);
        send(404, 'text/plain', 'not found');
      },
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    missing,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** The file a URL path maps to, or null when no mount holds it. */
function fileFor(mounts: readonly Mount[], path: string): string | null {
  for (const m of mounts) {
    if (!path.startsWith(m.urlPrefix)) continue;
    const root = resolve(m.dir);
    const file = resolve(join(root, path.slice(m.urlPrefix.length)));
    if (file.startsWith(root + sep)) return file;
  }
  return null;
}

/**
 * The import map entries of a package from its package.json `exports`: each subpath whose
 * ESM entry (`import.default`, or a plain string) starts with `./` maps
 * `<name><subpath>` to `<urlPrefix><entry>`.
 * @param urlPrefix where the package directory is served, ending with `/`.
 */
export function importMapEntries(pkg: { name: string; exports?: Record<string, unknown> }, urlPrefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [subpath, entry] of Object.entries(pkg.exports ?? {})) {
    const target = typeof entry === 'string' ? entry : esmDefault(entry);
    if (target === undefined || !target.startsWith('./') || subpath.includes('*')) continue;
    out[pkg.name + subpath.slice(1)] = urlPrefix + target.slice(2);
  }
  return out;
}

function esmDefault(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as { import?: unknown; default?: unknown };
  if (typeof e.import === 'string') return e.import;
  if (typeof e.import === 'object' && e.import !== null) {
    const d = (e.import as { default?: unknown }).default;
    if (typeof d === 'string') return d;
  }
  return typeof e.default === 'string' ? e.default : undefined;
}

/**
 * The test page. Its module script imports `@janus/protocol` (through the import map) and
 * the checks module, fetches the vectors, and leaves the report's promise in
 * `window.__janusReport` for the test to await.
 */
export function testPageHtml(imports: Readonly<Record<string, string>>, checksUrl: string, vectorsUrl: string): string {
  const importMap = JSON.stringify({ imports }, null, 2);
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>@janus/protocol in the browser</title>
<script type="importmap">
${importMap}
</script>
<script type="module">
window.__janusReport = (async () => {
  const janus = await import('@janus/protocol');
  const { runBrowserChecks } = await import(${JSON.stringify(checksUrl)});
  const response = await fetch(${JSON.stringify(vectorsUrl)});
  if (!response.ok) throw new Error('GET ${vectorsUrl}: ' + response.status);
  return runBrowserChecks(janus, await response.json());
})();
</script>
</head>
<body></body>
</html>
`;
}
