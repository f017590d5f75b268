/**
 * @janus/backend: the backend SDK. Serve a tunnel service (PROTOCOL.md 9) with typed
 * handlers, register it in etcd (PROTOCOL.md 10); see docs/backend-sdk.md.
 */
export { TunnelServer, DEFAULT_MAX_PENDING_REQUESTS, DEFAULT_MAX_REQUEST_BYTES, type TunnelServerOptions } from './server.js';
export { registerService, type ServiceRegistration, type ServiceRegistrationOptions } from './registry.js';
export type { TunnelContext, TunnelHandlers, ReplyInit } from './stream.js';
export {
  tunnelServiceDefinition,
  serializeTunnelMessage,
  deserializeTunnelMessage,
  type TunnelServiceDefinition,
  type TunnelMethodDefinition,
} from './definition.js';
export {
  TUNNEL_METADATA_KEYS,
  readTunnelMetadata,
  tunnelMetadata,
  tunnelMetadataHeaders,
  type TunnelMetadataFields,
  type TunnelMetadataResult,
} from './metadata.js';
export {
  TunnelTestClient,
  TunnelTestStream,
  DEFAULT_TEST_TIMEOUT_MS,
  type TestStreamFields,
} from './test-client.js';
export {
  ClusterPusher,
  type ClusterPusherOptions,
  type PushRedis,
  type PushBodyFields,
  type PushTargetOptions,
} from './push.js';
export { GatewayPushClient, DEFAULT_PUSH_CALL_DEADLINE_MS, type GatewayPushClientOptions } from './push-client.js';
