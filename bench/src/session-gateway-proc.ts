/**
 * Child process of the handshake and memory benches: one gateway (as gateway-proc.ts) that
 * also answers, through IPC calls (ipc.ts): the cost of the handshake's primitives measured
 * here, memory after an optional GC, a heap summary by constructor, the crypto pool's
 * requests in flight, CPU per thread, and its event loop delay.
 *
 *   JANUS_BENCH_GATEWAY_CONFIG='<config JSON>'  the gateway config (as gateway-proc.ts)
 *   JANUS_BENCH_CRYPTO_THREADS=<n>              size of the shared crypto pool; 0 = inline
 *
 * Start it with `--expose-gc` for the `memory` call to collect garbage first.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSnapshot } from 'node:v8';
import { ErrorCode, JanusError } from '@janus/protocol';
import { CryptoPool, nodeCrypto } from '@janus/protocol/node';
import { createGateway, parseConfig } from '@janus/gateway';
import { GATEWAY_CONFIG_ENV, serveChild } from './ipc.js';
import { CRYPTO_NICE_ENV, CRYPTO_THREADS_ENV, type HeapRow, type LoopDelay, type MemorySample, type PrimitiveCosts, type ThreadCpu } from './session-ipc.js';


/** Per-thread CPU from /proc/self/task (empty where /proc is missing). */
function threadCpu(): ThreadCpu[] {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return [];
  }
  const tick = 10; // ms per clock tick (USER_HZ = 100 on Linux)
  const out: ThreadCpu[] = [];
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      out.push({ tid: Number(tid), name, userMs: Number(f[11]) * tick, systemMs: Number(f[12]) * tick });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

function readConfig(): unknown {
  const raw = process.env[GATEWAY_CONFIG_ENV];
  if (!raw) throw new JanusError(ErrorCode.ConfigInvalid, `${GATEWAY_CONFIG_ENV} is not set`);
  return JSON.parse(raw);
}

function timeUs(n: number, fn: () => unknown): number {
  for (let i = 0; i < Math.min(200, n); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

/** Times each primitive `n` times on this thread, with inputs of a real handshake's sizes. */
function primitives(n: number): PrimitiveCosts {
  const pem = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const sk = nodeCrypto.importSigningKey(pem.privateKey);
  const vk = nodeCrypto.importVerifyKey(pem.publicKey);
  const clientInput = nodeCrypto.randomBytes(26 + 32 + 16); // label, 0, pub, timestamp, server_id
  const serverInput = nodeCrypto.randomBytes(26 + 32 + 32 + 8 + 12);
  const csBody = nodeCrypto.randomBytes(150);
  const sig = nodeCrypto.ed25519Sign(sk, clientInput);
  const peer = nodeCrypto.x25519Generate();
  const mine = nodeCrypto.x25519Generate();
  const shared = nodeCrypto.x25519(mine.privateKey, peer.publicKey);
  const salt = nodeCrypto.randomBytes(32);
  const info = nodeCrypto.randomBytes(21);
  const c: Omit<PrimitiveCosts, 'sum'> = {
    ed25519Verify: timeUs(n, () => nodeCrypto.ed25519Verify(vk, clientInput, sig)),
    x25519Generate: timeUs(n, () => nodeCrypto.x25519Generate()),
    x25519Derive: timeUs(n, () => nodeCrypto.x25519(mine.privateKey, peer.publicKey)),
    ed25519Sign: timeUs(n, () => nodeCrypto.ed25519Sign(sk, serverInput)),
    sha256x2: timeUs(n, () => {
      createHash('sha256').update(csBody).digest();
      createHash('sha256').update(salt).update(salt).digest();
    }),
    hkdf88: timeUs(n, () => nodeCrypto.hkdfSha256(shared, salt, info, 88)),
  };
  return { ...c, sum: Object.values(c).reduce((a, b) => a + b, 0) };
}

/** Self size and count by constructor name, largest first (a heap snapshot, parsed here). */
async function heapSummary(top: number): Promise<HeapRow[]> {
  let json = '';
  for await (const chunk of getHeapSnapshot()) json += String(chunk);
  const snap = JSON.parse(json) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  json = '';
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const rows = new Map<string, HeapRow>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]!]! : `(${type})`;
    const key = type === 'closure' ? `${name} (closure)` : name;
    const row = rows.get(key) ?? { name: key, count: 0, selfBytes: 0 };
    row.count++;
    row.selfBytes += snap.nodes[i + iSize]!;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => b.selfBytes - a.selfBytes).slice(0, top);
}

serveChild(async () => {
  const threads = process.env[CRYPTO_THREADS_ENV];
  const nice = process.env[CRYPTO_NICE_ENV];
  const pool = new CryptoPool({
    ...(threads !== undefined && threads !== '' ? { threads: Number(threads) } : {}),
    ...(nice !== undefined && nice !== '' ? { workerNice: Number(nice) } : {}),
  });
  const gw = await createGateway(parseConfig(readConfig()), { handshakeCrypto: pool });
  const gc = (globalThis as { gc?: () => void }).gc;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  return {
    ports: { tcp: gw.tcpPort, ws: gw.wsPort },
    close: async () => {
      await gw.close();
      await pool.close();
    },
    calls: {
      primitives: (n) => primitives(typeof n === 'number' ? n : 2000),
      memory: (): MemorySample => {
        if (gc) {
          gc();
          gc();
        }
        const m = process.memoryUsage();
        return {
          gc: gc !== undefined,
          rss: m.rss,
          heapUsed: m.heapUsed,
          heapTotal: m.heapTotal,
          external: m.external,
          arrayBuffers: m.arrayBuffers,
          connections: gw.connectionCount,
          sessions: gw.sessions.size,
        };
      },
      heapSummary: (top) => heapSummary(typeof top === 'number' ? top : 30),
      poolInFlight: () => pool.inFlight,
      poolCounts: () => ({ ...pool.counts }),
      threadCpu: () => threadCpu(),
      loopDelayReset: () => delay.reset(),
      loopDelay: (): LoopDelay => ({ p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 }),
    },
  };
});
