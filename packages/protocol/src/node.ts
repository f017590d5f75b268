/** @janus/protocol/node: the node:crypto back ends (synchronous, and pooled in worker threads) and key-file helpers. */
export { nodeCrypto } from './crypto/node.js';
export { CryptoPool, defaultPoolThreads, type CryptoPoolOptions } from './crypto/pool.js';
