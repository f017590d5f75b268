/**
 * `janus gateway --config FILE`: starts a gateway from a YAML config and stops it
 * gracefully on SIGTERM/SIGINT (PROTOCOL.md 8: ServerLogout Waiting to every client,
 * tunnels half-closed, exit within timeouts.shutdownMs); SIGHUP reloads the config file.
 */
import type { Command } from 'commander';
import { loadConfigFile } from '../config.js';
import { createGateway, type Gateway } from '../gateway.js';
import { fileConfigSource } from '../reload.js';

/**
 * Resolves when the first SIGINT or SIGTERM arrives. Later ones are ignored (the handlers
 * stay installed until the process exits): Ctrl-C in a terminal under `npm start` or
 * `npm run` reaches the process twice, once from the terminal (to the whole process
 * group) and once forwarded by npm, and the second must not kill the graceful stop
 * under way. The stop is bounded anyway (timeouts.shutdownMs; see {@link shutdown}).
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | null = null;
    const on = (sig: NodeJS.Signals): void => {
      if (first !== null) return;
      first = sig;
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * SIGHUP reloads the config (docs/operations.md "Reload and key rotation"). Installed before
 * the gateway starts, so a SIGHUP that comes early is ignored instead of ending the process
 * (its default action); the gateway logs each reload's outcome itself.
 */
export function reloadOnSighup(): { gateway: Gateway | null; stop(): void } {
  const state = {
    gateway: null as Gateway | null,
    stop: () => void process.off('SIGHUP', on),
  };
  const on = (): void => void state.gateway?.reload('signal');
  process.on('SIGHUP', on);
  return state;
}

/** Closes `gw` gracefully; exits the process if that takes longer than its bound plus 1 s. */
export async function shutdown(gw: Gateway): Promise<void> {
  const guard = setTimeout(() => process.exit(1), gw.config.timeouts.shutdownMs + 1000);
  guard.unref();
  await gw.close();
  clearTimeout(guard);
}

/** Registers `janus gateway`. */
export function register(program: Command): void {
  program
    .command('gateway')
    .description('Run a gateway from a YAML config file (see docs/configuration.md). Stops gracefully on SIGTERM/SIGINT; SIGHUP reloads the config.')
    .requiredOption('--config <file>', 'the YAML config file')
    .action(async (opts: { config: string }) => {
      const cfg = loadConfigFile(opts.config);
      // Before the "gateway listening" line: a signal sent on reading it must find the handler.
      const stopReloads = reloadOnSighup();
      const stopSignal = untilSignal();
      const gw = await createGateway(cfg, { configSource: fileConfigSource(opts.config) });
      stopReloads.gateway = gw;
      await stopSignal;
      stopReloads.stop();
      await shutdown(gw);
    });
}
