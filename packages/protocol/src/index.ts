/**
 * @janus/protocol: the Janus wire contract (PROTOCOL.md), usable from Node and browsers.
 * The node:crypto back end is in the `@janus/protocol/node` entry.
 */
export { ErrorCode, JanusError, isJanusError, type ErrorCodeValue } from './errors.js';
export {
  FrameDecoder,
  encodeFrame,
  checkBodyLength,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_FRAME_BYTES_CEILING,
  FRAME_HEADER_BYTES,
  MIN_FRAME_BYTES_SETTING,
  WS_SUBPROTOCOL,
} from './frame.js';
export { describeForeignBytes } from './sniff.js';
export { decodePacket, encodePacket, makePacket, packetSize, type Packet } from './packet.js';
export {
  MOD_SYSTEM,
  encodeMessage,
  decodeMessage,
  serverLogoutPacket,
  checkKickCode,
  serverLogoutError,
  isServerLogout,
  serverUnexpectedErrPacket,
  heartbeatReplyPacket,
} from './messages.js';
export type { AeadKey, CryptoBackend, Out, RecordAead, SigningKey, VerifyKey, X25519KeyPair } from './crypto/backend.js';
export { pemToDer } from './crypto/backend.js';
export { webCrypto } from './crypto/web.js';
export { deriveSessionKeys, SESSION_KEYS_INFO, type SessionKeys } from './keys.js';
export { RecordSealer, RecordOpener, recordNonce, setRecordCount, RECORD_TAG_BYTES, MAX_RECORD_NUMBER } from './record.js';
export {
  PROTOCOL_VERSION,
  MAX_START_INDEX,
  clientSignatureInput,
  serverSignatureInput,
  createClientHello,
  acceptServerHello,
  decodeClientHello,
  checkClientHello,
  pickServerCertVersion,
  createServerHello,
  randomStartIndex,
  type ClientHello,
  type ClientHelloOptions,
  type HandshakeResult,
  type ServerHandshakeConfig,
  type ServerHello,
  type ServerHelloOptions,
} from './handshake.js';
export {
  TOKEN_AAD,
  sealToken,
  openToken,
  parseTokenKey,
  base64UrlEncode,
  base64UrlDecodeStrict,
  type TokenFields,
} from './token.js';
export { utf8, concatBytes, i64be, i32be, toHex, fromHex, bytesEqual, isAllZero, toBase64, fromBase64 } from './bytes.js';
export { int64ToNumber } from './ids.js';
export {
  REGISTRY_PREFIX,
  REGISTRY_LEASE_TTL_S,
  DEFAULT_INSTANCE_WEIGHT,
  GATE_DISCOVERY_NAME,
  registryKey,
  registryNamePrefix,
  encodeServiceInstance,
  decodeServiceInstance,
  grpcAddress,
  instanceOf,
  sameInstances,
  type ServiceInstance,
  type Instance,
} from './registry.js';
export { ETCD_DEFAULTS, resolveEtcdOptions, type EtcdOptions, type EtcdOptionsInput } from './etcd-options.js';
export {
  Module,
  SystemSeq,
  CSHandshakeSchema,
  SCHandshakeSchema,
  CSAuthSchema,
  SCAuthSchema,
  CSHeartbeatSchema,
  SCHeartbeatSchema,
  SCHeartbeat_Code,
  SCServerUnexpectedErrSchema,
  SCServerLogoutSchema,
  SCServerLogout_Code,
  type CSHandshake,
  type SCHandshake,
  type CSAuth,
  type SCAuth,
  type CSHeartbeat,
  type SCHeartbeat,
  type SCServerUnexpectedErr,
  type SCServerLogout,
} from './gen/janus/v1/system_pb.js';
export { AuthTokenSchema, AuthToken_Status, type AuthToken } from './gen/janus/v1/token_pb.js';
export { PacketSchema as GeneratedPacketSchema } from './gen/janus/v1/packet_pb.js';
export {
  TunnelRequestSchema as PlayerTunnelRequestSchema,
  TunnelResponseSchema as PlayerTunnelResponseSchema,
  TunnelService as PlayerTunnelService,
  type TunnelRequest,
  type TunnelResponse,
} from './gen/player/intra/v1/tunnel_pb.js';
export { TunnelService as RoomTunnelService } from './gen/room/intra/v1/tunnel_pb.js';
export {
  PushService,
  PushBodySchema,
  PushRequestSchema,
  PushResponseSchema,
  MulticastRequestSchema,
  MulticastResponseSchema,
  BroadcastRequestSchema,
  BroadcastResponseSchema,
  KickRequestSchema,
  KickResponseSchema,
  PushMessageSchema,
  type PushBody,
  type PushMessage,
} from './gen/gate/service/push/v1/push_pb.js';
export { TUNNEL_TRACE_FIELDS, encodeTunnelTraceContext, readTunnelTraceContext, type TunnelTraceContext } from './tunnel-trace.js';
export { GATE_SERVICE_NAME, PUSH_BROADCAST_CHANNEL, routeKey, gateRouteKey, encodePushMessage, decodePushMessage } from './cluster.js';
export { TUNNEL_PATHS, TUNNEL_FIELDS_HEADROOM_BYTES, makeTunnelMessage, encodeTunnelMessage, decodeTunnelMessageAsPacket, decodeTunnelMessage, type TunnelMessage } from './tunnel.js';
export { MAX_INDEX, HEARTBEAT_SKEW_S, HEARTBEAT_INTERVAL_MS, MIN_IDLE_TIMEOUT_MS, TUNNEL_METADATA_KEYS, tunnelMetadataHeaders, type TunnelMetadataFields } from './session-rules.js';
