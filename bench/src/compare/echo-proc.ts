/**
 * Child process: the plain echo server behind the proxy baseline (proxy-proc.ts). Reads
 * link frames (length, session id, body; framing.ts) and answers: Echo returns the body
 * unchanged; Join adds the session to a room and acks; Say acks, then pushes the text to
 * every member of the room, one frame per member; Closed drops the session from its rooms.
 * Reports `ready` with ports `{ tcp }` (IPC contract in ../ipc.ts).
 */
import { createServer, type Socket } from 'node:net';
import { loopbackTcpChild, serveChild } from '../ipc.js';
import { BODY_HEAD_BYTES, encodeBody, encodeLinkFrame, FrameReader, ProxyKind } from './framing.js';

serveChild(async () => {
  const links = new Set<Socket>();
  const server = createServer((link) => {
    links.add(link);
    link.setNoDelay(true);
    const rooms = new Map<number, Set<number>>();
    const memberOf = new Map<number, Set<number>>();
    const reader = new FrameReader();
    link.on('data', (chunk: Buffer) => {
      reader.push(chunk, (frame) => {
        const sid = frame.readUInt32BE(0);
        const body = frame.subarray(4);
        const kind = body[0];
        if (kind === ProxyKind.Echo) {
          link.write(encodeLinkFrame(sid, body));
          return;
        }
        if (kind === ProxyKind.Closed) {
          for (const room of memberOf.get(sid) ?? []) rooms.get(room)?.delete(sid);
          memberOf.delete(sid);
          return;
        }
        if (body.length < BODY_HEAD_BYTES + 4) return;
        const id = body.readUInt32BE(1);
        const room = body.readUInt32BE(BODY_HEAD_BYTES);
        if (kind === ProxyKind.Join) {
          let members = rooms.get(room);
          if (!members) rooms.set(room, (members = new Set()));
          members.add(sid);
          let mine = memberOf.get(sid);
          if (!mine) memberOf.set(sid, (mine = new Set()));
          mine.add(room);
          link.write(encodeLinkFrame(sid, encodeBody(ProxyKind.Ack, id)));
        } else if (kind === ProxyKind.Say) {
          link.write(encodeLinkFrame(sid, encodeBody(ProxyKind.Ack, id)));
          const push = encodeBody(ProxyKind.Push, 0, body.subarray(BODY_HEAD_BYTES + 4));
          for (const m of rooms.get(room) ?? []) link.write(encodeLinkFrame(m, push));
        }
      });
    });
    link.on('error', () => link.destroy());
    link.once('close', () => links.delete(link));
  });
  return loopbackTcpChild(server, links);
});
