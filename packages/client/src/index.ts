/**
 * @janus/client for Node: TCP or WebSocket, node:crypto. See docs/client-sdk.md. The
 * browser entry (browser.ts, the `browser` export condition) has the same API.
 */
import type { CryptoBackend } from '@janus/protocol';
import { JanusClientBase } from './client.js';
import type { ClientOptions } from './options.js';
import { nodePlatform } from './platform-node.js';

/**
 * A Janus client session over TCP or WebSocket (Node). Events: {@link ClientEvents}.
 */
export class JanusClient extends JanusClientBase {
  /**
   * Connects, handshakes and authenticates; resolves after SCAuth (PROTOCOL.md 7).
   * The first connection is not retried, whatever `reconnect` says.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID / JANUS_ERR_KEY_INVALID for bad options;
   *   JANUS_ERR_LOGOUT with `details.logoutCode` when the gateway answered with ServerLogout;
   *   JANUS_ERR_HANDSHAKE_INVALID (e.g. a bad server signature); JANUS_ERR_HANDSHAKE_TIMEOUT
   *   past connectTimeoutMs; JANUS_ERR_CONNECTION_CLOSED when the connection fails.
   */
  static connect(opts: ClientOptions): Promise<JanusClient> {
    return JanusClientBase.open(opts, nodePlatform, (o, session) => new JanusClient(o, session));
  }
}

/** The crypto back end used when the options name none: node:crypto (synchronous). */
export function defaultCrypto(): Promise<CryptoBackend> {
  return nodePlatform.defaultCrypto();
}

export * from './api.js';
