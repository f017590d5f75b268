/**
 * Runs the demo backend alone (docs/demo.md):
 *
 *   node examples/demo-backend/dist/src/main.js [--host 127.0.0.1] [--port 17101]
 *
 * Environment: DEMO_BACKEND_HOST, DEMO_BACKEND_PORT (arguments win). Prints one line
 * `demo backend listening on HOST:PORT` once serving. SIGINT/SIGTERM stop it gracefully
 * (at most SHUTDOWN_GRACE_MS, then connections are cut); a second signal cuts at once.
 * Exit codes: 0 stopped, 1 failed to start, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { ErrorCode, JanusError, TUNNEL_PATHS } from '@janus/protocol';
import { startDemoBackend, type DemoBackend } from './index.js';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 17101;
const SHUTDOWN_GRACE_MS = 5000;

const USAGE = `usage: demo-backend [--host HOST] [--port PORT]
  --host  address to bind (env DEMO_BACKEND_HOST, default ${DEFAULT_HOST})
  --port  port to bind, 0 = any free port (env DEMO_BACKEND_PORT, default ${DEFAULT_PORT})`;

function parsePort(raw: string): number {
  const port = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new JanusError(ErrorCode.ArgInvalid, `--port must be an integer in 0..65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

function readOptions(): { host: string; port: number } | null {
  const { values } = parseArgs({
    options: { host: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return null;
  const host = values.host ?? process.env['DEMO_BACKEND_HOST'] ?? DEFAULT_HOST;
  const port = parsePort(values.port ?? process.env['DEMO_BACKEND_PORT'] ?? String(DEFAULT_PORT));
  return { host, port };
}

function stopOnSignals(backend: DemoBackend): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      backend.destroy();
      return;
    }
    stopping = true;
    console.log(`demo backend: ${signal}, stopping`);
    const cut = setTimeout(() => backend.destroy(), SHUTDOWN_GRACE_MS);
    cut.unref();
    void backend.close().then(() => {
      clearTimeout(cut);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      console.log('demo backend: stopped');
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function main(): Promise<void> {
  let opts: { host: string; port: number } | null;
  try {
    opts = readOptions();
  } catch (err) {
    console.error(`demo backend: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === null) {
    console.log(USAGE);
    return;
  }
  let backend: DemoBackend;
  try {
    backend = await startDemoBackend(opts);
  } catch (err) {
    console.error(`demo backend: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    return;
  }
  const shown = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  console.log(`demo backend listening on ${shown}:${backend.port}`);
  console.log(`  player service ${TUNNEL_PATHS.player}, room service ${TUNNEL_PATHS.room}`);
  stopOnSignals(backend);
}

void main();
