/**
 * `janus demo` (`npm start`): the demo stack on embedded defaults. Writes dev keys into
 * `.janus/keys/` on first start (reused later), runs the demo backend, a gateway from
 * examples/gateway.yaml and the web demo (the browser SDK's chat page, 127.0.0.1:17003),
 * prints how to connect, and stops cleanly on Ctrl-C. The demo backend and the web demo are
 * loaded on use: they are not runtime dependencies of the gateway (optional.ts).
 * `janus demo --cluster` runs the cluster demo instead (demo-cluster.ts).
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ErrorCode, JanusError } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { loadConfigFile, type GatewayConfig } from '../config.js';
import { createGateway, listenError } from '../gateway.js';
import { shutdown, untilSignal } from './gateway-command.js';
import { keyFileNames, keygen } from './keygen.js';
import { importOptional } from './optional.js';
import { loadClientKeys } from './client-command.js';
import { readTokenKeyFile } from './keyfiles.js';
import { TOKEN_KEY_FILE } from '../key-dir.js';
import { CLUSTER_DEFAULT_PORT_BASE, CLUSTER_PORT_SPAN, requireClusterBinaries, runClusterDemo } from './demo-cluster.js';

/** The web demo's default port (@janus/web-demo's WEB_DEMO_PORT; that package is loaded only when the demo runs). */
const WEB_DEMO_DEFAULT_PORT = 17003;

/** The repository root (this file is packages/gateway/dist/src/cli/demo.js). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/** The demo's key directory, `.janus/keys/` in the repository (written on first start; the client's default `--keys`). */
export const DEMO_KEY_DIR = join(REPO_ROOT, '.janus', 'keys');

/**
 * Where the demo backend listens: the first static instance of the config's player service
 * (so the gateway and the backend agree).
 * @throws JanusError JANUS_ERR_CONFIG_INVALID when the config lists none.
 */
export function demoBackendAddress(cfg: GatewayConfig): { host: string; port: number } {
  const name = cfg.services.player!.discoveryName;
  const endpoint = cfg.discovery.static[name]?.[0]?.endpoints[0];
  const m = endpoint ? /^grpc:\/\/(.+):(\d+)$/.exec(endpoint) : null;
  if (!m) {
    throw new JanusError(ErrorCode.ConfigInvalid, `config discovery.static.${name}: the demo needs a static instance of the player service to run its backend at`);
  }
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * Checks that the demo backend's address is free, so a busy port is one line naming the
 * config key it comes from (grpc-js would print its own line and a nested message).
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming discovery.static.<player discovery name>.
 */
export async function checkBackendAddressFree(cfg: GatewayConfig, at: { host: string; port: number }): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(listenError(err, at.host, at.port, `discovery.static.${cfg.services.player!.discoveryName}.0.endpoints.0`, true)));
    probe.listen(at.port, at.host, () => probe.close(() => resolve()));
  });
}

/** Registers `janus demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the demo stack: the demo backend, a gateway from examples/gateway.yaml (TCP 127.0.0.1:17001, WebSocket 17002, backend 17101) and the web demo page (http://127.0.0.1:17003/). Keys go to .janus/keys/.',
    )
    .option('--config <file>', 'gateway config; the demo backend listens at its player service\'s first static instance', join(REPO_ROOT, 'examples', 'gateway.yaml'))
    .option('--web-port <port>', 'port of the web demo page on 127.0.0.1 (0 = any free port)', String(WEB_DEMO_DEFAULT_PORT))
    .option('--cluster', 'instead: two gateways, two player backends and one room backend on a local redis-server and etcd (docs/demo.md#the-cluster-demo)')
    .option('--port-base <n>', `with --cluster: every port in base+1..base+${CLUSTER_PORT_SPAN} (0 = free ports)`, String(CLUSTER_DEFAULT_PORT_BASE))
    .option('--keys <dir>', 'with --cluster: the key directory of both gateways (written on first use)', DEMO_KEY_DIR)
    .action(async (opts: { config: string; webPort: string; cluster?: boolean; portBase: string; keys: string }) => {
      if (opts.cluster) {
        const base = /^[0-9]{1,5}$/.test(opts.portBase) ? Number(opts.portBase) : NaN;
        if (!(base === 0 || (base >= 1024 && base <= 65535 - CLUSTER_PORT_SPAN))) throw new JanusError(ErrorCode.ArgInvalid, `--port-base must be 0 or an integer in 1024..${65535 - CLUSTER_PORT_SPAN}, got ${JSON.stringify(opts.portBase)}`);
        requireClusterBinaries();
        await importOptional('@janus/demo-backend', 'janus demo --cluster', 'run the demo from a Janus checkout (npm ci && npm run demo:cluster)', () => import('@janus/demo-backend'));
        if (!existsSync(join(opts.keys, keyFileNames(1).serverKey))) {
          const { written } = await keygen({ outDir: opts.keys });
          process.stdout.write(`wrote dev keys: ${written.join(', ')}\n`);
        }
        await runClusterDemo({ portBase: base, keyDir: opts.keys, ...(resolve(opts.keys) === DEMO_KEY_DIR ? {} : { keysArg: opts.keys }) });
        return;
      }
      // First, before any key is written: an install without the demo packages stops here.
      const { startDemoBackend } = await importOptional('@janus/demo-backend', 'janus demo', 'run the demo from a Janus checkout (npm ci && npm start)', () => import('@janus/demo-backend'));
      const { startWebDemo } = await importOptional('@janus/web-demo', 'janus demo', 'run the demo from a Janus checkout (npm ci && npm start)', () => import('@janus/web-demo'));
      const webPort = /^[0-9]{1,5}$/.test(opts.webPort) ? Number(opts.webPort) : NaN;
      if (!(webPort >= 0 && webPort <= 65535)) throw new JanusError(ErrorCode.ArgInvalid, `--web-port must be an integer in 0..65535, got ${JSON.stringify(opts.webPort)}`);
      const keyDir = DEMO_KEY_DIR;
      if (!existsSync(join(keyDir, keyFileNames(1).serverKey))) {
        const { written } = await keygen({ outDir: keyDir });
        process.stdout.write(`wrote dev keys: ${written.join(', ')}\n`);
      }
      const cfg = loadConfigFile(opts.config);
      // Listen for the signal before anything is printed: a process manager may send it the
      // moment it reads "Ctrl-C stops the stack" (stdout to a pipe is written synchronously).
      const stopSignal = untilSignal();
      const at = demoBackendAddress(cfg);
      await checkBackendAddressFree(cfg, at);
      const backend = await startDemoBackend(at);
      const gw = await createGateway(cfg).catch(async (err) => {
        await backend.close();
        throw err;
      });
      // The web demo hands out dev tokens for this gateway: the token key and the client keys from its key directory.
      const keyDirOfConfig = cfg.keys.dir ?? keyDir;
      const web = await startWebDemo({
        host: '127.0.0.1',
        port: webPort,
        gateway: { host: cfg.listen.ws.host, port: gw.wsPort, path: cfg.listen.ws.path, tls: !!cfg.listen.ws.tls },
        tokenKey: await readTokenKeyFile(join(keyDirOfConfig, TOKEN_KEY_FILE)),
        ...loadClientKeys(keyDirOfConfig),
        crypto: nodeCrypto,
      }).catch(async (err) => {
        await shutdown(gw);
        await backend.close();
        throw err;
      });
      process.stdout.write(
        [
          '',
          `Janus demo is up: TCP 127.0.0.1:${gw.tcpPort}, WebSocket ws${cfg.listen.ws.tls ? 's' : ''}://127.0.0.1:${gw.wsPort}${cfg.listen.ws.path}, demo backend 127.0.0.1:${backend.port}.`,
          ...(gw.management
            ? [
                `Management: http://${gw.management.host}:${gw.management.port} (/health, /ready, /metrics, /stats/connections, /stats/routes; docs/operations.md).`,
                `Dashboard: http://${gw.management.host}:${gw.management.port}/  (live connections, msgs/s, latency, modules, backends, errors)`,
              ]
            : ['Management server: off (management.enabled: false).']),
          'In another terminal:',
          `  npx janus client --uid 1001${gw.tcpPort === 17001 ? '' : ` --port ${gw.tcpPort}`}            # type "help" for the demo commands`,
          `  npx janus client --uid 1002 --ws${gw.wsPort === 17002 ? '' : ` --port ${gw.wsPort}`}       # the same over WebSocket`,
          `Web demo (the browser SDK): ${web.url}  (open it in two tabs, pick a name in each, chat)`,
          'Ctrl-C stops the stack.',
          '',
        ].join('\n'),
      );
      await stopSignal;
      process.stdout.write('stopping...\n');
      await web.close();
      await shutdown(gw);
      await backend.close();
      process.stdout.write('stopped\n');
    });
}
