/** @janus/protocol/node: the node:crypto back ends (synchronous, and pooled in worker threads) and key-file helpers. */
export { nodeCrypto } from './crypto/node.js';
export { CryptoPool, defaultPoolThreads, type CryptoPoolOptions } from './crypto/pool.js';
export {
  GrpcStatus,
  GRPC_PREFIX_BYTES,
  GRPC_COMPRESSED_ERROR,
  MAX_OVERSIZED_FIELDS_BYTES,
  GrpcMessageReader,
  grpcTunnelMessage,
  statusFromHeaders,
  statusFromReset,
  answerGrpcStatus,
  GRPC_RESPONSE_HEADERS,
  grpcStatusTrailers,
  encodeGrpcMessage,
  acceptGrpcRequest,
  type GrpcReadError,
} from './grpc-wire.js';
