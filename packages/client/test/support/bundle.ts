/**
 * The browser build of the client SDK, as a page would get it: esbuild bundles an entry
 * (the SDK's browser entry, or a test page that imports it) for `platform: 'browser'`, ESM,
 * minified, with code splitting, so the noble back end (reached only through a dynamic
 * import) lands in a chunk of its own. Files stay in memory. A `node:` import or a Node-only
 * package anywhere in the graph fails the build (esbuild cannot resolve built-ins for the
 * browser) or shows in `packages`.
 */
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** One output file. */
export interface BundleFile {
  /** File name, e.g. `browser.js`, `noble-crypto-AB12CD34.js`, `chunk-EF56.js`. */
  name: string;
  contents: Uint8Array;
  /** The entry point it was built for (undefined for a shared chunk). */
  entryPoint: string | undefined;
  /** The module files bundled into it (paths relative to the working directory). */
  inputs: string[];
  /** gzip -9 size (bytes). */
  gzipBytes: number;
}

/** A bundle: its files and every package from node_modules it contains. */
export interface Bundle {
  files: BundleFile[];
  /** Package names (`@scope/name` or `name`) found among the inputs. */
  packages: string[];
}

/** The package name of a node_modules path, or null. */
function packageOf(input: string): string | null {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m ? m[1]! : null;
}

/**
 * Bundles `entry` (a compiled .js file) for browsers.
 * @throws the esbuild error (with its messages) when the build fails.
 */
export async function bundleForBrowser(entry: string): Promise<Bundle> {
  const outdir = join('/', 'bundle');
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    minify: true,
    outdir,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const outputs = r.metafile.outputs;
  const files = r.outputFiles.map((f): BundleFile => {
    const meta = Object.entries(outputs).find(([path]) => f.path.endsWith(path.replace(/^(\.\.\/)+/, '/')))?.[1];
    return {
      name: f.path.slice(outdir.length + 1),
      contents: f.contents,
      entryPoint: meta?.entryPoint,
      inputs: Object.keys(meta?.inputs ?? {}),
      gzipBytes: gzipSync(f.contents, { level: 9 }).length,
    };
  });
  const packages = [...new Set(Object.keys(r.metafile.inputs).map(packageOf).filter((p): p is string => p !== null))].sort();
  return { files, packages };
}
