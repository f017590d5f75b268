/**
 * The start-up check of `limits.maxConnections` against the process's descriptor limit
 * (`ulimit -n`, RLIMIT_NOFILE): every client connection is one descriptor, and the gateway
 * needs some of its own. Read from /proc/self/limits (Linux), no native addon; elsewhere the
 * limit is unknown and nothing is checked.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from './config.js';

/**
 * Descriptors a gateway uses besides client connections and backend channels (count):
 * stdio, the two client listeners, libuv's epoll and signal descriptors, the crypto and
 * zlib worker threads, log files, DNS.
 */
export const OWN_DESCRIPTOR_RESERVE = 64;

/** The soft open-file limit in /proc/self/limits text ("Max open files  soft  hard  files"); null when absent or unlimited. */
export function parseOpenFileLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\S+)\s+\S+/m.exec(limitsText);
  if (!m || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** The process's soft open-file limit, or null when it cannot be read (not Linux) or is unlimited. */
export function readOpenFileLimit(file = '/proc/self/limits'): number | null {
  try {
    return parseOpenFileLimit(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** What {@link checkDescriptorBudget} found: descriptors needed at most, the limit, and whether they fit. */
export interface DescriptorBudget {
  /** limits.maxConnections (count). */
  connections: number;
  /** The gateway's own descriptors: the reserve plus channelsPerInstance per static backend address (count). */
  own: number;
  /** The soft open-file limit (count), null when unknown. */
  limit: number | null;
  /** connections + own exceeds the limit. */
  exceeded: boolean;
}

/**
 * Compares maxConnections plus the gateway's own descriptors with the open-file limit.
 * Backends found through etcd later are not known at start: only the static lists count.
 */
export function checkDescriptorBudget(cfg: GatewayConfig, limit: number | null): DescriptorBudget {
  const addresses = new Set<string>();
  for (const list of Object.values(cfg.discovery.static)) for (const i of list) addresses.add(i.endpoints[0]!);
  const own = OWN_DESCRIPTOR_RESERVE + cfg.tunnel.channelsPerInstance * addresses.size;
  const connections = cfg.limits.maxConnections;
  return { connections, own, limit, exceeded: limit !== null && connections + own > limit };
}
