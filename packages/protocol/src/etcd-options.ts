/**
 * Options of the etcd registry client (PROTOCOL.md 10), with their defaults and one check
 * per option. Here rather than in @janus/discovery-etcd so that the gateway's config schema
 * (`discovery.etcd.*`) and the backend SDK's types need no etcd adapter installed: it is an
 * optional package, loaded only when etcd is used (docs/decisions/0016-etcd-discovery.md).
 */
import { ErrorCode, JanusError } from './errors.js';
import { REGISTRY_LEASE_TTL_S, REGISTRY_PREFIX } from './registry.js';

/** What a caller may give; everything but `endpoints` has a default. */
export interface EtcdOptionsInput {
  /** etcd client URLs, e.g. `["http://127.0.0.1:2379"]` (at least one). */
  endpoints: readonly string[];
  /** Key prefix of the registry (Kratos: `/microservices`); no trailing slash. */
  prefix?: string;
  /** TTL of a registration's lease (s), integer >= 2 (etcd's own minimum); default 15. */
  leaseTtlS?: number;
  /** Wait for a connection to etcd before a call fails (ms); default 3000. */
  dialTimeoutMs?: number;
  /** Deadline of every unary etcd call: get, put, lease grant, keepalive, revoke (ms); default 5000. */
  requestTimeoutMs?: number;
  /** First retry delay after a failure (ms); doubles per failure up to backoffMaxMs; default 250. */
  backoffMinMs?: number;
  /** Largest retry delay (ms); default 10000. Each delay is jittered to [d/2, d). */
  backoffMaxMs?: number;
}

/** Validated options, every default filled in. */
export type EtcdOptions = Required<EtcdOptionsInput>;

/** The defaults of {@link EtcdOptionsInput}. */
export const ETCD_DEFAULTS = {
  prefix: REGISTRY_PREFIX,
  leaseTtlS: REGISTRY_LEASE_TTL_S,
  dialTimeoutMs: 3000,
  requestTimeoutMs: 5000,
  backoffMinMs: 250,
  backoffMaxMs: 10000,
} as const;

function invalid(key: string, why: string): JanusError {
  return new JanusError(ErrorCode.ConfigInvalid, `etcd option ${key}: ${why}`, { key });
}

function int(o: EtcdOptionsInput, key: keyof typeof ETCD_DEFAULTS & keyof EtcdOptionsInput, min: number): number {
  const v = o[key] ?? ETCD_DEFAULTS[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw invalid(key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks `o` and fills defaults.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming the bad option: no endpoints, an
 *   endpoint that is not `http://host:port` (no TLS yet), a prefix not starting with `/` or ending
 *   with one, a number out of range, backoffMaxMs below backoffMinMs.
 */
export function resolveEtcdOptions(o: EtcdOptionsInput): EtcdOptions {
  if (!o || !Array.isArray(o.endpoints) || o.endpoints.length === 0) throw invalid('endpoints', 'at least one http://host:port is required');
  for (const e of o.endpoints) {
    if (typeof e !== 'string' || !/^http:\/\/[^/\s]+:\d+\/?$/.test(e)) throw invalid('endpoints', `must be http://host:port, got ${JSON.stringify(e)}`);
  }
  const prefix = o.prefix ?? ETCD_DEFAULTS.prefix;
  if (typeof prefix !== 'string' || !/^\/\S*[^/\s]$/.test(prefix)) throw invalid('prefix', `must start with "/" and not end with one, got ${JSON.stringify(prefix)}`);
  const r: EtcdOptions = {
    endpoints: [...o.endpoints],
    prefix,
    leaseTtlS: int(o, 'leaseTtlS', 2),
    dialTimeoutMs: int(o, 'dialTimeoutMs', 1),
    requestTimeoutMs: int(o, 'requestTimeoutMs', 1),
    backoffMinMs: int(o, 'backoffMinMs', 1),
    backoffMaxMs: int(o, 'backoffMaxMs', 1),
  };
  if (r.backoffMaxMs < r.backoffMinMs) throw invalid('backoffMaxMs', `must be >= backoffMinMs (${r.backoffMinMs})`);
  return r;
}
