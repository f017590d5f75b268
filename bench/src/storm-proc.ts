/**
 * Child process of the handshake bench: a reconnect storm. `clients` sessions (uids
 * uidBase+1 .. uidBase+clients) connect all at once, each fully authenticated (SCAuth, its
 * player tunnel open); when every one has opened or failed they all close, and the next
 * round starts, for `rounds` rounds or until the parent stops the child. In its own process so the clients'
 * handshake crypto does not stall the load generator that times the open sessions.
 *
 *   JANUS_BENCH_STORM='{"port":1234,"keysDir":"/tmp/...","clients":1000,"uidBase":1000000,"rounds":1}'
 *
 * Calls (ipc.ts): `stats` returns {@link StormStats}.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { JanusClient, isJanusError } from '@janus/client';
import { ErrorCode, JanusError } from '@janus/protocol';
import { serveChild } from './ipc.js';
import { readBenchKeys } from './keys.js';
import { STORM_ENV, type StormSpec, type StormStats } from './session-ipc.js';

function readSpec(): StormSpec {
  const raw = process.env[STORM_ENV];
  if (!raw) throw new JanusError(ErrorCode.ConfigInvalid, `${STORM_ENV} is not set`);
  return JSON.parse(raw) as StormSpec;
}

/**
 * Sets the OS nice value of every thread of this process (Linux: a nice value is per
 * thread; threads started later inherit the main thread's). Elsewhere: the process's.
 */
function niceAll(nice: number): void {
  if (process.platform !== 'linux') {
    setPriority(0, nice);
    return;
  }
  for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), nice);
}

serveChild(async () => {
  const spec = readSpec();
  if (spec.nice !== 0) niceAll(spec.nice);
  const keys = readBenchKeys(spec.keysDir);
  const stats: StormStats = { rounds: 0, done: false, opened: 0, failed: {} };
  let running = true;
  const open = new Set<JanusClient>();
  const connectOne = async (uid: bigint): Promise<JanusClient | null> => {
    try {
      const c = await JanusClient.connect({
        transport: 'tcp',
        host: '127.0.0.1',
        port: spec.port,
        token: await keys.token(uid),
        clientKeyPem: keys.clientKeyPem,
        serverKeys: { 1: keys.serverPubPem },
      });
      stats.opened++;
      open.add(c);
      return c;
    } catch (err) {
      const code = isJanusError(err) ? err.code : 'other';
      stats.failed[code] = (stats.failed[code] ?? 0) + 1;
      stats.firstFailure ??= err instanceof Error ? err.message : String(err);
      return null;
    }
  };
  const loop = (async () => {
    while (running && (spec.rounds === 0 || stats.rounds < spec.rounds)) {
      const round = await Promise.all(Array.from({ length: spec.clients }, (_, i) => connectOne(BigInt(spec.uidBase + i + 1))));
      stats.rounds++;
      await Promise.all(
        round.map(async (c) => {
          if (!c) return;
          await c.close().catch(() => {});
          open.delete(c);
        }),
      );
    }
    stats.done = true;
  })();
  return {
    ports: {},
    close: async () => {
      running = false;
      await Promise.all([...open].map((c) => c.close().catch(() => {})));
      await loop.catch(() => {});
    },
    calls: { stats: () => stats },
  };
});
