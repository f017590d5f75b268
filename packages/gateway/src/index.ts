/** @janus/gateway: the Janus gateway server. */
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { parseConfig, loadConfigFile, configSchema, type GatewayConfig, type GatewayConfigInput } from './config.js';
export { loadKeyRing, type KeyRing } from './keys.js';
export {
  fileConfigSource,
  planReload,
  type ConfigSource,
  type KeyRingChanges,
  type ReloadApplied,
  type ReloadRefused,
  type ReloadResult,
  type ReloadTrigger,
  type VersionChanges,
} from './reload.js';
export { MemoryRouteTable, routeKey, gateRouteKey, GATE_SERVICE_NAME, type RouteTable } from './route-table.js';
export { MemoryPushBus, type PushBus, type PushBusListener, type PushBusSubscription } from './push/bus.js';
export { PushService, pushPackets, checkKickCode, type PushTarget, type PushBodyInit } from './push/service.js';
export { PushChannel, type PushChannelStats } from './push/channel.js';
export { GatewayAddressClaim, gatewayClaimKey, gatewayInstanceId } from './gateway-claim.js';
export { StaticDiscovery, type Discovery, type Instance } from './discovery.js';
export { Balancer, SmoothWeightedRoundRobin } from './balancer.js';
export { Router, type ServiceRoute } from './router.js';
export { wsCodeForLogout, type ConnectionState, type ConnectionStats } from './connection/connection.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { ManualClock } from './manual-clock.js';
export { keyFileNames, keyVersions, TOKEN_KEY_FILE, type KeyDirFiles } from './key-dir.js';
export { keygen, type KeygenOptions } from './cli/keygen.js';
export { ChannelPool, Tunnel, GATE_REFERER, type TunnelListener, type TunnelStatus, type TunnelMetadata } from './tunnel.js';
export { GrpcStatus } from '@janus/protocol/node';
