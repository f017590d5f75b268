/**
 * `janus demo` (`npm start`): the demo stack on embedded defaults. Writes dev keys into
 * `.janus/keys/` on first start (reused later), runs the demo backend and a gateway from
 * examples/gateway.yaml, prints how to connect, and stops cleanly on Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { startDemoBackend } from '@janus/demo-backend';
import { loadConfigFile } from '../config.js';
import { createGateway } from '../gateway.js';
import { shutdown, untilSignal } from './gateway-command.js';
import { keyFileNames, keygen } from './keygen.js';

/** The repository root (this file is packages/gateway/dist/src/cli/demo.js). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/** Registers `janus demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('Run the demo stack: demo backend on 127.0.0.1:17101 and a gateway from examples/gateway.yaml (TCP 17001, WebSocket 17002). Keys go to .janus/keys/.')
    .option('--config <file>', 'gateway config', join(REPO_ROOT, 'examples', 'gateway.yaml'))
    .option('--backend-port <port>', 'demo backend gRPC port', '17101')
    .action(async (opts: { config: string; backendPort: string }) => {
      const keyDir = join(REPO_ROOT, '.janus', 'keys');
      if (!existsSync(join(keyDir, keyFileNames(1).serverKey))) {
        const { written } = await keygen({ outDir: keyDir });
        process.stdout.write(`wrote dev keys: ${written.join(', ')}\n`);
      }
      const cfg = loadConfigFile(opts.config);
      const backend = await startDemoBackend({ host: '127.0.0.1', port: Number(opts.backendPort) });
      const gw = await createGateway(cfg).catch(async (err) => {
        await backend.close();
        throw err;
      });
      process.stdout.write(
        [
          '',
          `Janus demo is up: TCP 127.0.0.1:${gw.tcpPort}, WebSocket ws://127.0.0.1:${gw.wsPort}${cfg.listen.ws.path}, demo backend 127.0.0.1:${backend.port}.`,
          'In another terminal:',
          '  npx janus client --uid 1001            # type "help" for the demo commands',
          '  npx janus client --uid 1002 --ws       # the same over WebSocket',
          'Ctrl-C stops the stack.',
          '',
        ].join('\n'),
      );
      await untilSignal();
      process.stdout.write('stopping...\n');
      await shutdown(gw);
      await backend.close();
      process.stdout.write('stopped\n');
    });
}
