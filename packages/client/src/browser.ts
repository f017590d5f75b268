/**
 * @janus/client for browsers: WebSocket (subprotocol `janus.v1`, `wss://` with `tls`),
 * WebCrypto with a pure-JS noble fallback, CompressionStream. No Node built-ins. The same
 * API as the Node entry (index.ts), except that `transport` can only be `'ws'`.
 * See docs/client-sdk.md, "In a browser".
 */
import type { CryptoBackend } from '@janus/protocol';
import { JanusClientBase } from './client.js';
import type { ClientOptions } from './options.js';
import { browserPlatform } from './platform-browser.js';

/**
 * A Janus client session over WebSocket (browser). Events: {@link ClientEvents}.
 */
export class JanusClient extends JanusClientBase {
  /**
   * Connects, handshakes and authenticates; resolves after SCAuth (PROTOCOL.md 7).
   * The first connection is not retried, whatever `reconnect` says.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID / JANUS_ERR_KEY_INVALID for bad options
   *   (`transport: 'tcp'` included); JANUS_ERR_LOGOUT with `details.logoutCode` when the
   *   gateway answered with ServerLogout; JANUS_ERR_HANDSHAKE_INVALID (e.g. a bad server
   *   signature); JANUS_ERR_HANDSHAKE_TIMEOUT past connectTimeoutMs;
   *   JANUS_ERR_CONNECTION_CLOSED when the connection fails.
   */
  static connect(opts: ClientOptions): Promise<JanusClient> {
    return JanusClientBase.open(opts, browserPlatform, (o, session) => new JanusClient(o, session));
  }
}

/**
 * The crypto back end used when the options name none: WebCrypto when the page's
 * SubtleCrypto has Ed25519 and X25519, else the noble back end (`name` `'webcrypto'` or
 * `'noble'`). Probes each call (two key generations).
 */
export function defaultCrypto(): Promise<CryptoBackend> {
  return browserPlatform.defaultCrypto();
}

export * from './api.js';
