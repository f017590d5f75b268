/**
 * @janus/demo-backend: a demo game backend on @janus/backend, serving the Player module
 * (mod 3: echo, counter, delayed push) at the player tunnel path and the Room module
 * (mod 4: chat rooms) at the room tunnel path, on one gRPC server. See docs/demo.md.
 */
import { MAX_FRAME_BYTES_CEILING, TUNNEL_FIELDS_HEADROOM_BYTES, TUNNEL_PATHS } from '@janus/protocol';
import { TunnelServer } from '@janus/backend';
import { PlayerService } from './player.js';
import { RoomService } from './room.js';

export {
  DemoModule,
  PlayerSeq,
  RoomSeq,
  PUSH_LATER_DELAY_MS,
  MAX_NAME_LENGTH,
  MAX_TEXT_LENGTH,
} from './protocol.js';
export { PlayerService } from './player.js';
export { RoomService } from './room.js';

/** Options of {@link startDemoBackend}. */
export interface DemoBackendOptions {
  /** Address to bind, e.g. '127.0.0.1'. */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Tunnel path of the player service; default TUNNEL_PATHS.player. */
  playerPath?: string;
  /** Tunnel path of the room service; default TUNNEL_PATHS.room. */
  roomPath?: string;
  /**
   * Largest TunnelRequest accepted (bytes; the TunnelServer's `maxRequestBytes`).
   * Default {@link DEMO_MAX_REQUEST_BYTES}: whatever a gateway forwards under the frame limit's
   * ceiling, so the server's own 4 MiB default never refuses a request the gateway let through.
   */
  maxRequestBytes?: number;
}

/**
 * Default largest request of the demo backend (bytes): the largest Packet data a gateway
 * forwards with maxFrameBytes and maxInflateBytes at most MAX_FRAME_BYTES_CEILING (16 MiB),
 * plus room for the other fields.
 */
export const DEMO_MAX_REQUEST_BYTES = MAX_FRAME_BYTES_CEILING + TUNNEL_FIELDS_HEADROOM_BYTES;

/** A running demo backend. */
export interface DemoBackend {
  /** The bound port. */
  readonly port: number;
  /** Open tunnel streams, over both services. */
  readonly streamCount: number;
  /** Graceful stop: ends every stream with OK, waits for connections to finish. Idempotent. */
  close(): Promise<void>;
  /** Immediate stop: drops connections. Idempotent. */
  destroy(): void;
}

/**
 * Starts the demo backend: the player and room tunnel services on one gRPC server at
 * `host:port`.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID when the address cannot be bound.
 */
export async function startDemoBackend(opts: DemoBackendOptions): Promise<DemoBackend> {
  const player = new PlayerService();
  const room = new RoomService();
  const server = new TunnelServer({ maxRequestBytes: opts.maxRequestBytes ?? DEMO_MAX_REQUEST_BYTES })
    .addService(opts.playerPath ?? TUNNEL_PATHS.player, player.handlers)
    .addService(opts.roomPath ?? TUNNEL_PATHS.room, room.handlers);
  let port: number;
  try {
    port = await server.listen(opts.host, opts.port);
  } catch (err) {
    server.destroy();
    throw err;
  }
  return {
    port,
    get streamCount() {
      return server.streamCount;
    },
    close: async () => {
      player.stop();
      await server.close();
    },
    destroy: () => {
      player.stop();
      server.destroy();
    },
  };
}
