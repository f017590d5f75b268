/** @janus/protocol/node: the synchronous node:crypto back end and key-file helpers. */
export { nodeCrypto } from './crypto/node.js';
