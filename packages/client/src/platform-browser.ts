/**
 * The browser platform (see platform.ts): the page's WebSocket (web-socket.ts), WebCrypto
 * or the noble fallback (crypto-select.ts), CompressionStream (compress-web.ts). No TCP:
 * a page cannot open a socket. Tracing: set `globalThis.JANUS_DEBUG = true` (for example in
 * the console) and the lines that NODE_DEBUG=janus-client prints in Node go to console.debug.
 */
import { deflateWeb, inflateWeb } from './compress-web.js';
import { selectBrowserCrypto } from './crypto-select.js';
import type { Platform } from './platform.js';
import { BrowserWsTransport } from './web-socket.js';

/** The browser adapter of the platform port. */
export const browserPlatform: Platform = {
  name: 'browser',
  transports: ['ws'],
  connect: (t) => BrowserWsTransport.connect(t),
  defaultCrypto: selectBrowserCrypto,
  inflate: inflateWeb,
  deflate: deflateWeb,
  trace(format, ...args) {
    if ((globalThis as { JANUS_DEBUG?: unknown }).JANUS_DEBUG) console.debug(`janus-client ${format}`, ...args);
  },
  defer: (fn) => void setTimeout(fn, 0),
};
