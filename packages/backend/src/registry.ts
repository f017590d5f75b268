/**
 * Registering a backend service in etcd the way Kratos (Go) services do, PROTOCOL.md 10:
 * key `{prefix}/{name}/{id}`, value `{"id","name","version","metadata":{"color","weight"},
 * "endpoints":["grpc://host:port"]}` under a lease (TTL 15 s) kept alive, re-created after a
 * loss, revoked by close(). Gateways then route to it like to any Kratos instance.
 *
 * The etcd client (@janus/discovery-etcd, etcd3) is loaded on the first call only, so a
 * backend without etcd never loads it.
 */
import { DEFAULT_INSTANCE_WEIGHT, ErrorCode, grpcAddress, JanusError, type EtcdOptionsInput } from '@janus/protocol';

/** What {@link registerService} registers, and where. */
export interface ServiceRegistrationOptions {
  /** The etcd cluster: `{ endpoints: ['http://127.0.0.1:2379'] }` plus optional prefix, leaseTtlS, timeouts. */
  etcd: EtcdOptionsInput;
  /** Discovery name, e.g. `roma.player.service` (the gateway config's `services.*.discoveryName`). */
  name: string;
  /** Instance id, unique within the name (e.g. host name + port). */
  id: string;
  /** Endpoints; at least one `grpc://host:port` the gateways can reach (not 0.0.0.0). */
  endpoints: readonly string[];
  /** `metadata.color`: only sessions of this color are routed here. Default ''. */
  color?: string;
  /** `metadata.weight` for smooth weighted round robin, integer >= 1. Default 100. */
  weight?: number;
  /** ServiceInstance version. Default ''. */
  version?: string;
  /** More metadata (string values); `color` and `weight` above take precedence. */
  metadata?: Readonly<Record<string, string>>;
}

/** A live registration. */
export interface ServiceRegistration {
  /** The etcd key. */
  readonly key: string;
  /** Resolves at the first successful registration (it keeps retrying while etcd is unreachable); rejects only if close() comes first. */
  ready(): Promise<void>;
  /** Deregisters (revokes the lease, bounded by the request timeout) and closes the etcd client. Idempotent. */
  close(): Promise<void>;
}

/**
 * The etcd adapter, an optional package of the backend SDK.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming it when it is not installed.
 */
async function loadAdapter(): Promise<typeof import('@janus/discovery-etcd')> {
  try {
    return await import('@janus/discovery-etcd');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes("'@janus/discovery-etcd'")) {
      throw new JanusError(ErrorCode.ConfigInvalid, 'registerService needs @janus/discovery-etcd, which is not installed: npm install @janus/discovery-etcd', { package: '@janus/discovery-etcd' }, { cause: err });
    }
    throw err;
  }
}

function invalid(key: string, why: string): JanusError {
  return new JanusError(ErrorCode.ConfigInvalid, `registerService ${key}: ${why}`, { key });
}

/**
 * Registers a backend instance in etcd and keeps it registered until close(). Returns at
 * once (before etcd answers); await `ready()` to know it is listed.
 *
 * ```ts
 * const port = await server.listen('0.0.0.0', 9000);
 * const reg = await registerService({ etcd: { endpoints: ['http://etcd:2379'] },
 *   name: 'roma.player.service', id: 'player-a', endpoints: [`grpc://10.0.0.5:${port}`], color: 'blue' });
 * // on shutdown: await reg.close(); await server.close();
 * ```
 * @throws JanusError JANUS_ERR_CONFIG_INVALID for an empty name or id, no grpc://host:port
 *   endpoint, a weight that is not an integer >= 1, or a bad etcd option (named).
 */
export async function registerService(o: ServiceRegistrationOptions): Promise<ServiceRegistration> {
  if (typeof o.name !== 'string' || o.name === '' || o.name.includes('/')) throw invalid('name', 'must be a non-empty string without "/"');
  if (typeof o.id !== 'string' || o.id === '' || o.id.includes('/')) throw invalid('id', 'must be a non-empty string without "/"');
  if (!Array.isArray(o.endpoints) || grpcAddress(o.endpoints) === null) throw invalid('endpoints', 'needs a grpc://host:port endpoint');
  const weight = o.weight ?? DEFAULT_INSTANCE_WEIGHT;
  if (!Number.isInteger(weight) || weight < 1) throw invalid('weight', `must be an integer >= 1, got ${JSON.stringify(o.weight)}`);
  const { EtcdRegistry } = await loadAdapter();
  const registry = new EtcdRegistry(o.etcd);
  const reg = registry.register({
    id: o.id,
    name: o.name,
    version: o.version ?? '',
    metadata: { ...o.metadata, color: o.color ?? '', weight: String(weight) },
    endpoints: [...o.endpoints],
  });
  return {
    key: reg.key,
    ready: () => reg.ready(),
    close: () => registry.close(),
  };
}
