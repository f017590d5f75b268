/**
 * The service registry layout of PROTOCOL.md 10 (Kratos' etcd registry): key
 * `{prefix}/{name}/{id}` (prefix `/microservices`), value the JSON of a Kratos
 * ServiceInstance `{"id","name","version","metadata":{...},"endpoints":[...]}`.
 *
 * Kratos (Go) declares `metadata` as `map[string]string`, so every metadata value is written
 * as a string (`"weight":"100"`): a number there would make a Go service's json.Unmarshal
 * fail. Reading is lenient on that one point (a JSON number weight is accepted).
 */
import { ErrorCode, JanusError } from './errors.js';

/** Default key prefix of the Kratos etcd registry. */
export const REGISTRY_PREFIX = '/microservices';
/** Default lease TTL of a registration (s), PROTOCOL.md 10. */
export const REGISTRY_LEASE_TTL_S = 15;
/** `metadata.weight` of an instance that does not set one. */
export const DEFAULT_INSTANCE_WEIGHT = 100;
/** The discovery name a gateway registers under (PROTOCOL.md 10). */
export const GATE_DISCOVERY_NAME = 'janus.gate.interface';

/** A Kratos ServiceInstance as stored in etcd. */
export interface ServiceInstance {
  id: string;
  name: string;
  version: string;
  /** String values only (Kratos `map[string]string`); `color` and `weight` are read by Janus. */
  metadata: Record<string, string>;
  /** URLs such as `grpc://10.0.0.5:9000`, `http://10.0.0.5:8000`. */
  endpoints: string[];
}

/** One routable backend instance: what the balancer sees of a ServiceInstance. */
export interface Instance {
  id: string;
  /** `host:port` of its first `grpc://` endpoint. */
  address: string;
  /** `metadata.color` ('' when unset): only sessions of this color are served by it. */
  color: string;
  /** Smooth weighted round robin weight, `metadata.weight`, integer >= 1, default 100. */
  weight: number;
}

/** `{prefix}/{name}/` : the prefix every instance key of `name` starts with. */
export function registryNamePrefix(prefix: string, name: string): string {
  return `${prefix}/${name}/`;
}

/** `{prefix}/{name}/{id}`, the key of one registration (PROTOCOL.md 10). */
export function registryKey(prefix: string, name: string, id: string): string {
  return `${registryNamePrefix(prefix, name)}${id}`;
}

/**
 * The JSON value of a registration, metadata values as strings (Kratos interop).
 * @param inst metadata values may be numbers (e.g. `weight: 50`); they are written as strings.
 */
export function encodeServiceInstance(inst: Omit<ServiceInstance, 'metadata'> & { metadata: Record<string, string | number> }): string {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(inst.metadata)) metadata[k] = String(v);
  return JSON.stringify({ id: inst.id, name: inst.name, version: inst.version, metadata, endpoints: inst.endpoints });
}

function bad(key: string, why: string): JanusError {
  return new JanusError(ErrorCode.RegistryValueInvalid, `registry value at ${key}: ${why}`, { key });
}

/**
 * Parses and checks a registry value.
 * @param key the etcd key it was stored at (named in errors).
 * @throws JanusError JANUS_ERR_REGISTRY_VALUE when it is not JSON, or `id`, `name` or
 *   `endpoints` are missing or of the wrong type, or a metadata value is not a string
 *   (a number `weight` is accepted and turned into its decimal string).
 */
export function decodeServiceInstance(key: string, value: string): ServiceInstance {
  let o: unknown;
  try {
    o = JSON.parse(value);
  } catch {
    throw bad(key, 'not JSON');
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad(key, 'not a JSON object');
  const r = o as Record<string, unknown>;
  if (typeof r.id !== 'string' || r.id === '') throw bad(key, '"id" must be a non-empty string');
  if (typeof r.name !== 'string' || r.name === '') throw bad(key, '"name" must be a non-empty string');
  if (r.version !== undefined && typeof r.version !== 'string') throw bad(key, '"version" must be a string');
  if (!Array.isArray(r.endpoints) || !r.endpoints.every((e) => typeof e === 'string')) throw bad(key, '"endpoints" must be an array of strings');
  const metadata: Record<string, string> = {};
  if (r.metadata !== undefined && r.metadata !== null) {
    if (typeof r.metadata !== 'object' || Array.isArray(r.metadata)) throw bad(key, '"metadata" must be an object');
    for (const [k, v] of Object.entries(r.metadata as Record<string, unknown>)) {
      if (typeof v === 'string') metadata[k] = v;
      else if (k === 'weight' && typeof v === 'number') metadata[k] = String(v);
      else throw bad(key, `metadata.${k} must be a string`);
    }
  }
  return { id: r.id, name: r.name, version: (r.version as string | undefined) ?? '', metadata, endpoints: r.endpoints as string[] };
}

/**
 * The `host:port` of the first `grpc://` endpoint (a query such as `?isSecure=false` is
 * ignored), or null when there is none.
 */
export function grpcAddress(endpoints: readonly string[]): string | null {
  for (const e of endpoints) {
    if (!e.startsWith('grpc://')) continue;
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      continue;
    }
    if (u.hostname !== '' && u.port !== '') return u.host;
  }
  return null;
}

/**
 * The routable view of a ServiceInstance (PROTOCOL.md 10): first grpc endpoint, color,
 * weight (default 100).
 * @throws JanusError JANUS_ERR_REGISTRY_VALUE when it has no `grpc://host:port` endpoint or
 *   its weight is not a decimal integer >= 1.
 */
export function instanceOf(key: string, s: ServiceInstance): Instance {
  const address = grpcAddress(s.endpoints);
  if (address === null) throw bad(key, 'no grpc://host:port endpoint');
  let weight = DEFAULT_INSTANCE_WEIGHT;
  const w = s.metadata.weight;
  if (w !== undefined && w !== '') {
    if (!/^[1-9]\d{0,8}$/.test(w)) throw bad(key, `metadata.weight must be an integer >= 1, got ${JSON.stringify(w)}`);
    weight = Number(w);
  }
  return { id: s.id, address, color: s.metadata.color ?? '', weight };
}

/** True when both lists hold the same instances (id, address, color, weight) in the same order. */
export function sameInstances(a: readonly Instance[], b: readonly Instance[]): boolean {
  return a.length === b.length && a.every((x, i) => x.id === b[i]!.id && x.address === b[i]!.address && x.color === b[i]!.color && x.weight === b[i]!.weight);
}
