/**
 * Binding a TCP listener (net, http, https or http2 server) and learning its port: what each
 * of the gateway's listeners does at start (the client listeners, the management server, the
 * push gRPC server).
 */
import type { Server } from 'node:net';

/**
 * Binds `server` to `host:port` and resolves the port it got (port 0 picks a free one).
 * The one-shot 'error' listener is removed once bound, so the caller's own 'error' handling
 * applies from then on.
 * @throws the listen error as Node raises it (EADDRINUSE, EACCES ...); the caller names the
 *   config key (gateway.ts listenError).
 */
export function listenPort(server: Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}
