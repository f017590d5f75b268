/**
 * The gRPC method definition of a tunnel service (PROTOCOL.md 9), built by hand so every
 * message crosses the hand-written TunnelRequest/TunnelResponse codec of @janus/protocol
 * instead of a generated one. For grpc-js code: a grpc-js server or client of the tunnel
 * (the gateway's tests run grpc-js backends with it); the SDK's own TunnelServer is on
 * node:http2 (decision 0024) and reads requests with the same codec.
 */
import type * as grpc from '@grpc/grpc-js';
import { decodeTunnelMessage, encodeTunnelMessage, type TunnelMessage } from '@janus/protocol';

/** grpc-js method definition of one bidirectional `Tunnel` method. */
export type TunnelMethodDefinition = grpc.MethodDefinition<TunnelMessage, TunnelMessage>;

/** grpc-js service definition holding the single `Tunnel` method. */
export interface TunnelServiceDefinition extends grpc.ServiceDefinition {
  readonly Tunnel: TunnelMethodDefinition;
}

/**
 * Serializes a TunnelRequest/TunnelResponse for grpc-js: the encoded bytes as a Buffer view
 * (no copy). Every field of `m` must be set (see {@link TunnelMessage}).
 */
export function serializeTunnelMessage(m: TunnelMessage): Buffer {
  const bytes = encodeTunnelMessage(m);
  // On Node the encoder already returns a Buffer (pooled); wrap only a plain Uint8Array.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Deserializes a TunnelRequest/TunnelResponse received by grpc-js; `data` is a Uint8Array
 * view into `buf` (no copy).
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED when `buf` is not a valid message (grpc-js
 *   then ends the call with status INTERNAL).
 */
export function deserializeTunnelMessage(buf: Buffer): TunnelMessage {
  // A plain Uint8Array view, so `data` is a Uint8Array and not a Buffer, as in browsers.
  return decodeTunnelMessage(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}

/**
 * The service definition of a tunnel served at `path`, e.g. `TUNNEL_PATHS.player`
 * (`/player.intra.v1.TunnelService/Tunnel`). Use it with `grpc.Server#addService` or
 * `grpc.makeGenericClientConstructor`; a raw client can call
 * `client.makeBidiStreamRequest(path, serializeTunnelMessage, deserializeTunnelMessage, metadata, options)`.
 * @param deserializeRequest how requests are read; default {@link deserializeTunnelMessage}
 *   (a tracing TunnelServer also reads their trace context).
 */
export function tunnelServiceDefinition(
  path: string,
  deserializeRequest: (buf: Buffer) => TunnelMessage = deserializeTunnelMessage,
): TunnelServiceDefinition {
  return {
    Tunnel: {
      path,
      requestStream: true,
      responseStream: true,
      requestSerialize: serializeTunnelMessage,
      requestDeserialize: deserializeRequest,
      responseSerialize: serializeTunnelMessage,
      responseDeserialize: deserializeTunnelMessage,
      originalName: 'tunnel',
    },
  };
}
