/**
 * `janus demo --cluster` (`npm run demo:cluster`): Janus scaled out on one machine. Starts
 * redis-server and etcd (loopback ports, a temp data dir, no persistence), two player
 * backends and one room backend (the demo backend, registered in etcd with registerService),
 * and two gateways (`janus gateway` processes) configured with discovery.etcd and
 * routeTable.redis and one admin token (clusterAdminToken: the HTTP push API is on); prints
 * their addresses, the token and how to try single login, sticky routing and a push across
 * them; Ctrl-C or SIGTERM stops every process in order and removes the temp dir.
 * See docs/demo.md and docs/deployment.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, requireBinary, startChild, startEtcd, startRedisServer, type Child } from './child-processes.js';
import { untilSignal } from './gateway-command.js';

/** The default port base: every port of the cluster demo is in base+1 .. base+{@link CLUSTER_PORT_SPAN}. */
export const CLUSTER_DEFAULT_PORT_BASE = 17200;

/** The offsets from the port base of every port {@link clusterPorts} hands out, in its order. */
const CLUSTER_PORT_OFFSETS = [1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 31, 32, 33];

/** The highest offset from the port base the cluster demo uses (etcd's peer port). */
export const CLUSTER_PORT_SPAN = Math.max(...CLUSTER_PORT_OFFSETS);

/** The ports of one gateway of the cluster demo. */
export interface ClusterGatewayPorts {
  tcp: number;
  ws: number;
  management: number;
  grpc: number;
}

/** Every port the cluster demo binds on 127.0.0.1. */
export interface ClusterPorts {
  gateways: [ClusterGatewayPorts, ClusterGatewayPorts];
  /** player-1, player-2, room-1. */
  backends: [number, number, number];
  redis: number;
  etcdClient: number;
  etcdPeer: number;
}

/**
 * The cluster demo's ports: from `base` (gateway n: base+10(n-1)+1 TCP, +2 WebSocket,
 * +3 management, +4 gRPC; backends base+21..23; Redis base+31; etcd base+32 client, +33
 * peer), or with `base` 0 distinct free ports picked now.
 */
export async function clusterPorts(base: number): Promise<ClusterPorts> {
  const p = base === 0 ? await freePorts(CLUSTER_PORT_OFFSETS.length) : CLUSTER_PORT_OFFSETS.map((offset) => base + offset);
  const at = (i: number): number => p[i]!;
  return {
    gateways: [
      { tcp: at(0), ws: at(1), management: at(2), grpc: at(3) },
      { tcp: at(4), ws: at(5), management: at(6), grpc: at(7) },
    ],
    backends: [at(8), at(9), at(10)],
    redis: at(11),
    etcdClient: at(12),
    etcdPeer: at(13),
  };
}

/**
 * The admin token both gateways take: JANUS_ADMIN_TOKEN when set (the gateways would take
 * it from their environment anyway), else a random one made now. It turns on the HTTP push
 * API (`/v1/push/*` exists only with a token) and guards /stats/*; the banner prints it.
 */
export function clusterAdminToken(env: NodeJS.ProcessEnv = process.env): string {
  return env.JANUS_ADMIN_TOKEN || randomBytes(18).toString('base64url');
}

/** The gateway config of gateway `n` (1 or 2): JSON, which the YAML loader reads as it is. */
function gatewayConfig(n: number, ports: ClusterGatewayPorts, all: ClusterPorts, keyDir: string, adminToken: string): string {
  return JSON.stringify(
    {
      gateway: { id: `janus-demo-${n}`, advertiseHost: '127.0.0.1' },
      listen: {
        tcp: { host: '127.0.0.1', port: ports.tcp },
        ws: { host: '127.0.0.1', port: ports.ws, path: '/ws' },
        grpc: { host: '127.0.0.1', port: ports.grpc },
      },
      encrypted: true,
      keys: { dir: keyDir },
      services: {
        player: { path: '/player.intra.v1.TunnelService/Tunnel', discoveryName: 'roma.player.service' },
        room: { path: '/room.intra.v1.TunnelService/Tunnel', discoveryName: 'roma.room.service' },
      },
      discovery: { etcd: { endpoints: [`http://127.0.0.1:${all.etcdClient}`] } },
      routeTable: { redis: { nodes: [`127.0.0.1:${all.redis}`] } },
      limits: { maxConnections: 1000 },
      management: { host: '127.0.0.1', port: ports.management, adminToken },
      log: { level: 'info' },
    },
    null,
    2,
  );
}

/**
 * Checks that redis-server and etcd are installed (before anything is written or started).
 * @throws JanusError JANUS_ERR_ARG_INVALID naming the missing binary and its apt package
 *   (redis-server, etcd-server).
 */
export function requireClusterBinaries(): void {
  requireBinary('redis-server', 'redis-server', 'janus demo --cluster');
  requireBinary('etcd', 'etcd-server', 'janus demo --cluster');
}

/** Options of {@link runClusterDemo}. */
export interface ClusterDemoOptions {
  /** See {@link clusterPorts}. */
  portBase: number;
  /** The `janus keygen` directory both gateways use. */
  keyDir: string;
  /** The `--keys` argument to show in the client commands; none for the default directory. */
  keysArg?: string;
  /** Where the text goes (the process's stdout and stderr by default). */
  out?: (s: string) => void;
  err?: (s: string) => void;
}

const DIST_CLI = dirname(fileURLToPath(import.meta.url));
const JANUS_MAIN = join(DIST_CLI, 'main.js');
const BACKEND_MAIN = join(DIST_CLI, 'demo-cluster-backend.js');

/** Forwards a gateway's warn-and-above pino lines, prefixed with its name (info lines are dropped). */
function gatewayLog(name: string, err: (s: string) => void): (line: string) => void {
  return (line) => {
    try {
      const rec = JSON.parse(line) as { level?: number; msg?: string };
      if ((rec.level ?? 0) >= 40) err(`[${name}] ${line}\n`);
    } catch {
      if (line.trim()) err(`[${name}] ${line}\n`);
    }
  };
}

/**
 * Runs the cluster demo until SIGINT or SIGTERM, then stops gateways, backends, etcd and
 * redis-server (in that order) and removes the temp dir.
 * @throws JanusError JANUS_ERR_ARG_INVALID when redis-server or etcd is not installed (one
 *   line naming the binary and its apt package), or a process fails to start (everything
 *   started so far is stopped first).
 */
export async function runClusterDemo(o: ClusterDemoOptions): Promise<void> {
  const out = o.out ?? ((s: string) => void process.stdout.write(s));
  const err = o.err ?? ((s: string) => void process.stderr.write(s));
  requireClusterBinaries();
  const keyDir = resolve(o.keyDir);
  const ports = await clusterPorts(o.portBase);
  const stopSignal = untilSignal();
  const dir = mkdtempSync(join(tmpdir(), 'janus-cluster-'));
  const started: Child[] = [];
  const stopAll = async (): Promise<void> => {
    // Gateways first (they end their sessions and clean their Redis and etcd entries), then
    // the backends (they deregister), then etcd and Redis.
    for (const c of [...started].reverse()) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  let interrupted = false;
  void stopSignal.then(() => (interrupted = true));
  const start = async (c: () => Promise<Child>): Promise<Child> => {
    if (interrupted) throw new Error('interrupted');
    const child = await c();
    started.push(child);
    return child;
  };
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  const adminToken = clusterAdminToken();
  try {
    mkdirSync(join(dir, 'redis'));
    await start(() => startRedisServer(ports.redis, join(dir, 'redis')));
    await start(() => startEtcd(ports.etcdClient, ports.etcdPeer, join(dir, 'etcd')));
    const backends: [string, string, number][] = [
      ['roma.player.service', 'player-1', ports.backends[0]],
      ['roma.player.service', 'player-2', ports.backends[1]],
      ['roma.room.service', 'room-1', ports.backends[2]],
    ];
    for (const [name, id, port] of backends) {
      await start(() =>
        startChild({
          name: id,
          command: process.execPath,
          args: [BACKEND_MAIN, etcdUrl, name, id, String(port)],
          ready: (line) => line.startsWith('backend ready '),
          onLine: (line) => line.trim() && err(`[${id}] ${line}\n`),
        }),
      );
    }
    for (const n of [1, 2]) {
      const cfgFile = join(dir, `gateway-${n}.yaml`);
      writeFileSync(cfgFile, gatewayConfig(n, ports.gateways[n - 1]!, ports, keyDir, adminToken));
      await start(() =>
        startChild({
          name: `gateway-${n}`,
          command: process.execPath,
          args: [JANUS_MAIN, 'gateway', '--config', cfgFile],
          ready: (line) => line.includes('"msg":"gateway listening"'),
          onLine: gatewayLog(`gateway-${n}`, err),
        }),
      );
    }
  } catch (e) {
    await stopAll();
    if (interrupted) {
      out('stopped\n');
      return;
    }
    throw e;
  }
  const [g1, g2] = ports.gateways;
  const keys = o.keysArg ? ` --keys ${o.keysArg}` : '';
  out(
    [
      '',
      'Janus cluster demo is up: two gateways on one Redis (route tables, push channels) and one etcd (discovery).',
      `  gateway-1: TCP 127.0.0.1:${g1.tcp}, WebSocket ws://127.0.0.1:${g1.ws}/ws, management http://127.0.0.1:${g1.management}, gRPC 127.0.0.1:${g1.grpc}`,
      `  gateway-2: TCP 127.0.0.1:${g2.tcp}, WebSocket ws://127.0.0.1:${g2.ws}/ws, management http://127.0.0.1:${g2.management}, gRPC 127.0.0.1:${g2.grpc}`,
      `  backends (registered in etcd): player-1 127.0.0.1:${ports.backends[0]}, player-2 127.0.0.1:${ports.backends[1]} (roma.player.service), room-1 127.0.0.1:${ports.backends[2]} (roma.room.service)`,
      `  redis-server 127.0.0.1:${ports.redis}, etcd ${etcdUrl}`,
      '  management endpoints: / (the live dashboard), /health, /ready, /metrics, /stats/connections, /stats/routes, /v1/push/* (docs/operations.md)',
      `  admin token (for /stats/* and the push API /v1/push/*): ${adminToken}`,
      `  processes: ${started.map((c) => `${c.name} ${c.pid}`).join(', ')}; data in ${dir} (removed at stop)`,
      'Try it, each in its own terminal:',
      `  npx janus client --uid 1001 --port ${g1.tcp}${keys}           # "count" twice: {"count":1}, {"count":2}`,
      `  npx janus client --uid 1001 --port ${g2.tcp}${keys}           # the same uid on gateway-2: the first client gets ServerLogout ConflictingLogin (single login);`,
      '                                                       # "count" gives {"count":3}: the uid stays on its player instance (sticky route in Redis)',
      `  npx janus client --uid 1002 --ws --port ${g2.ws}${keys}       # other uids spread over player-1 and player-2`,
      `  ETCDCTL_API=3 etcdctl --endpoints ${etcdUrl} get --prefix /microservices/   # what is registered (Debian's etcd-client)`,
      `  redis-cli -p ${ports.redis} keys '*'                        # the route tables`,
      `  curl -s -H 'Authorization: Bearer ${adminToken}' -d '{"uid":"1001","bodies":[{"mod":3,"seq":4,"data":"aGVsbG8="}]}' http://127.0.0.1:${g1.management}/v1/push/push`,
      '                                                       # {"pushed":true}: gateway-1\'s push API reaches uid 1001 on gateway-2 (through Redis)',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await stopSignal;
  out('stopping...\n');
  await stopAll();
  out('stopped\n');
}
