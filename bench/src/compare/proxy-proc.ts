/**
 * Child process: the plain proxy baseline of bench:compare. Accepts clients on 127.0.0.1
 * (free port), frames their byte streams with the 4-byte length prefix (framing.ts), and
 * forwards each body over one multiplexed connection to the echo server, tagged with the
 * client's session id; frames coming back go to the session they name. No crypto, no
 * protobuf, no batching: one socket write per frame, as a naive proxy does.
 *
 *   JANUS_BENCH_ECHO_PORT=<port>   the echo server (echo-proc.ts) on 127.0.0.1
 *
 * Reports `ready` with ports `{ tcp }` (IPC contract in ../ipc.ts).
 */
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { loopbackTcpChild, serveChild } from '../ipc.js';
import { encodeBody, encodeFrame, encodeLinkFrame, FrameReader, ProxyKind } from './framing.js';
import { ECHO_PORT_ENV } from './proxy-env.js';


serveChild(async () => {
  const echoPort = Number(process.env[ECHO_PORT_ENV]);
  if (!(echoPort > 0)) throw new Error(`${ECHO_PORT_ENV} is not set`);
  const link = netConnect({ host: '127.0.0.1', port: echoPort, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    link.once('connect', resolve);
    link.once('error', reject);
  });
  link.on('error', (err) => {
    console.error(`proxy: echo link: ${err.message}`);
    process.exit(1);
  });
  const sessions = new Map<number, Socket>();
  let nextSid = 1;
  const linkReader = new FrameReader();
  link.on('data', (chunk: Buffer) => {
    linkReader.push(chunk, (frame) => {
      const s = sessions.get(frame.readUInt32BE(0));
      if (s && !s.destroyed) s.write(encodeFrame(frame.subarray(4)));
    });
  });

  const server = createServer((sock) => {
    const sid = nextSid++;
    sessions.set(sid, sock);
    sock.setNoDelay(true);
    const reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (body) => link.write(encodeLinkFrame(sid, body)));
      } catch {
        sock.destroy();
      }
    });
    sock.on('error', () => sock.destroy());
    sock.once('close', () => {
      sessions.delete(sid);
      if (!link.destroyed) link.write(encodeLinkFrame(sid, encodeBody(ProxyKind.Closed, 0)));
    });
  });
  const child = await loopbackTcpChild(server, sessions);
  return {
    ports: child.ports,
    close: async () => {
      await child.close();
      link.end();
    },
  };
});
