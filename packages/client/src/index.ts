/**
 * @janus/client: the Janus client SDK for Node (TCP or WebSocket). See docs/client-sdk.md.
 */
export {
  JanusClient,
  type CloseReason,
  type HeartbeatReply,
  type ReconnectingEvent,
  type RequestOptions,
  type ServerErrorEvent,
} from './client.js';
export type { Session } from './link.js';
export { CLIENT_DEFAULTS, MIN_FRAME_BYTES, type ClientOptions, type ClientTlsOptions, type ReconnectOptions } from './options.js';
export { FINAL_LOGOUT_CODES, isFinalLogout, reconnectDelay } from './reconnect.js';
export { WS_SUBPROTOCOL } from './ws.js';
export { JanusError, ErrorCode, isJanusError, SCServerLogout_Code, SCHeartbeat_Code, type Packet, type CryptoBackend } from '@janus/protocol';
