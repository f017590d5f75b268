/**
 * Child process: the bare TCP session of the handshake bench's floor (handshake.ts,
 * docs/benchmarks.md "Handshake"). Per connection it does what a Janus session does on the
 * socket and nothing else: waits for the first frame (CSHandshake's size), answers one
 * frame (SCHandshake's), waits for the second (CSAuth's), answers one (SCAuth's), then
 * reads until the client ends and closes. No crypto, no protobuf, no tunnel, no timers.
 * Reports `ready` with ports `{ tcp }` (IPC contract in ipc.ts).
 */
import { createServer, type Socket } from 'node:net';
import { loopbackTcpChild, serveChild } from './ipc.js';
import { FLOOR_FRAMES } from './session-ipc.js';

serveChild(async () => {
  const sockets = new Set<Socket>();
  const first = Buffer.alloc(FLOOR_FRAMES.serverHandshake);
  const second = Buffer.alloc(FLOOR_FRAMES.serverAuth);
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    let seen = 0;
    let step = 0;
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (step === 0 && seen >= FLOOR_FRAMES.clientHandshake) {
        step = 1;
        socket.write(first);
      } else if (step === 1 && seen >= FLOOR_FRAMES.clientHandshake + FLOOR_FRAMES.clientAuth) {
        step = 2;
        socket.write(second);
      }
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  });
  return loopbackTcpChild(server, sockets);
});
