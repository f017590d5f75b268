/**
 * Child process: one gateway, alone in its process so its CPU and memory can be measured
 * apart from the load generator and the backend (docs/decisions/0004-load-bench.md).
 *
 *   JANUS_BENCH_GATEWAY_CONFIG='<config JSON>' (forked by load.ts with an IPC channel)
 *
 * The config is the gateway's config object (docs/configuration.md), validated by
 * parseConfig. Reports `ready` with ports `{ tcp, ws }`; IPC contract in ipc.ts.
 */
import { ErrorCode, JanusError } from '@janus/protocol';
import { createGateway, parseConfig } from '@janus/gateway';
import { GATEWAY_CONFIG_ENV, serveChild } from './ipc.js';

function readConfig(): unknown {
  const raw = process.env[GATEWAY_CONFIG_ENV];
  if (!raw) throw new JanusError(ErrorCode.ConfigInvalid, `${GATEWAY_CONFIG_ENV} is not set`);
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new JanusError(ErrorCode.ConfigInvalid, `${GATEWAY_CONFIG_ENV} is not JSON: ${(err as Error).message}`);
  }
}

serveChild(async () => {
  const gw = await createGateway(parseConfig(readConfig()));
  return { ports: { tcp: gw.tcpPort, ws: gw.wsPort }, close: () => gw.close() };
});
