/**
 * @janus/discovery-etcd: the etcd service registry of PROTOCOL.md 10 (Kratos layout) for
 * the gateway (its Discovery adapter and its own registration) and for backend services
 * (registration). Loaded only when etcd is configured, so the core never pulls in etcd3.
 */
export { EtcdRegistry, type EtcdRegistryHooks } from './registry.js';
export { EtcdRegistration, type RegistrationEvent, type RegistrationState } from './registration.js';
export { EtcdDiscovery, type DiscoveryListener } from './discovery.js';
export { resolveEtcdOptions, ETCD_DEFAULTS, type EtcdOptions, type EtcdOptionsInput } from '@janus/protocol';
export { Backoff, nodeTimers, silentLog, type Timers, type Log } from './timers.js';
