/**
 * The Node platform (see platform.ts): TCP (tcp.ts) and WebSocket over the `ws` package
 * (ws.ts), the synchronous node:crypto back end, node:zlib with its output bound, and
 * `NODE_DEBUG=janus-client` tracing.
 */
import { debuglog } from 'node:util';
import { nodeCrypto } from '@janus/protocol/node';
import { deflateData, inflateLimited } from './compress.js';
import type { Platform } from './platform.js';
import { TcpTransport } from './tcp.js';
import { WsTransport } from './ws.js';

/** The Node adapter of the platform port. */
export const nodePlatform: Platform = {
  name: 'node',
  transports: ['tcp', 'ws'],
  connect(t) {
    const common = { host: t.host, port: t.port, maxFrameBytes: t.maxFrameBytes, signal: t.signal };
    return t.transport === 'tcp' ? TcpTransport.connect(common) : WsTransport.connect({ ...common, path: t.path, tls: t.tls });
  },
  defaultCrypto: () => Promise.resolve(nodeCrypto),
  inflate: inflateLimited,
  deflate: deflateData,
  trace: debuglog('janus-client'),
  defer: (fn) => void setImmediate(fn),
};
