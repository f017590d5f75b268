/**
 * What both entries of @janus/client export besides their own `JanusClient` and
 * `defaultCrypto` (index.ts for Node, browser.ts for browsers): one list, so the two
 * entries cannot drift apart.
 */
export { loadNobleCrypto } from './noble-load.js';
export {
  JanusClientBase,
  type ClientEvents,
  type CloseReason,
  type ConnectionState,
  type HeartbeatReply,
  type ReconnectingEvent,
  type RequestOptions,
  type ServerErrorEvent,
  type StateChange,
} from './client.js';
export type { Session } from './link.js';
export { CLIENT_DEFAULTS, MIN_FRAME_BYTES, type ClientOptions, type ClientTlsOptions, type ReconnectOptions } from './options.js';
export { FINAL_LOGOUT_CODES, isFinalLogout, reconnectDelay } from './reconnect.js';
export { JanusError, ErrorCode, isJanusError, SCServerLogout_Code, SCHeartbeat_Code, WS_SUBPROTOCOL, type Packet, type CryptoBackend } from '@janus/protocol';
