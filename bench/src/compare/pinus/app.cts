/**
 * The pinus application of bench:compare, run the way pinus runs an application: the load
 * generator forks this program as the pinus master (with an IPC channel, ipc.ts contract);
 * the master starts the connector and the echo server from config/servers.json by spawning
 * this same program with pinus's `key=value` arguments. Compiled to CommonJS (.cts) because
 * pinus loads applications and handlers with require().
 *
 * Environment (set by pinus-system.ts, inherited by the spawned servers):
 *   JANUS_BENCH_PINUS_BASE   the application base directory (config/, app/servers/)
 *   JANUS_BENCH_USAGE_PORT   the load generator's usage hub (usage-link.ts)
 *   JANUS_BENCH_PINUS_DICT   "1" = route compression on (connector useDict)
 *   JANUS_BENCH_PINUS_HEARTBEAT  heartbeat interval (s)
 */

/** The part of pinus's Application this program uses. */
interface PinusApplication {
  configure(env: string, type: string, fn: () => void): void;
  set(key: string, value: unknown): void;
  start(cb?: (err?: Error) => void): void;
  event: { on(name: string, fn: () => void): void };
}

interface PinusModule {
  pinus: { createApp(opts: { base: string }): PinusApplication; connectors: { hybridconnector: unknown } };
}

// pinus is required, not imported: its package points TypeScript at its .ts sources, which
// would then be compiled with this repository's settings.
// pinus's loader reads decorator metadata (reflect-metadata, a dependency of pinus-loader),
// which a pinus application loads first.
// Resolved from pinus-loader, so that it is found wherever npm placed it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require(require.resolve('reflect-metadata', { paths: [require.resolve('pinus-loader')] }));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pinus } = require('pinus') as PinusModule;

function serverArg(key: string): string | undefined {
  const a = process.argv.find((s) => s.startsWith(`${key}=`));
  return a?.slice(key.length + 1);
}

async function main(): Promise<void> {
  const base = process.env['JANUS_BENCH_PINUS_BASE'];
  if (!base) throw new Error('JANUS_BENCH_PINUS_BASE is not set (this program is started by bench:compare)');
  const serverId = serverArg('id');
  const isMaster = serverArg('serverType') === undefined;

  if (isMaster) {
    const { serveChild } = await import('../../ipc.js');
    serveChild(async () => {
      const app = pinus.createApp({ base });
      await new Promise<void>((resolve, reject) => app.start((err) => (err ? reject(err) : resolve())));
      // Stopping: the load generator stops the servers over the usage link, then this process.
      return { ports: {}, close: async () => {} };
    });
    return;
  }

  const { linkToHub } = await import('../usage-link.js');
  const hello = linkToHub(serverId ?? 'unknown');
  const app = pinus.createApp({ base });
  app.configure('production|development', 'connector', () => {
    app.set('connectorConfig', {
      connector: pinus.connectors.hybridconnector,
      heartbeat: Number(process.env['JANUS_BENCH_PINUS_HEARTBEAT'] ?? 10),
      useDict: process.env['JANUS_BENCH_PINUS_DICT'] !== '0',
      useProtobuf: false,
      // Off by default in pinus; on here as in the Janus gateway and the proxy. With Nagle,
      // back-to-back pushes to one socket wait for the client's delayed ACK (up to 40 ms).
      setNoDelay: true,
    });
  });
  // Every server has started (pinus's monitor tells each server): ready for clients.
  app.event.on('start_all', hello);
  app.start();
}

main().catch((err: unknown) => {
  console.error(`pinus app ${serverArg('id') ?? 'master'}: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
