/**
 * describeForeignBytes: what the first bytes of a wrong port look like (HTTP, HTTP/2 (gRPC),
 * TLS, SSH), and that no Janus frame of a Packet (the first frame either side sends) is
 * ever taken for one of them.
 */
import { strict as assert } from 'node:assert';
import { connect as h2connect, createServer as h2createServer } from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer as netCreateServer } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { describeForeignBytes, encodeFrame, encodePacket, makePacket, MAX_FRAME_BYTES_CEILING } from '../src/index.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The first chunk a server on 127.0.0.1 receives from `talk(port)`. */
async function firstChunkReceived(talk: (port: number) => () => void): Promise<Uint8Array> {
  const server = netCreateServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const got = once(server, 'connection').then(async ([socket]) => {
    const [chunk] = (await once(socket as NodeJS.EventEmitter, 'data')) as [Buffer];
    (socket as { destroy(): void }).destroy();
    return new Uint8Array(chunk);
  });
  const stop = talk((server.address() as AddressInfo).port);
  try {
    return await got;
  } finally {
    stop();
    server.close();
  }
}

describe('describeForeignBytes', () => {
  it('names HTTP/1.x requests and responses, TLS, SSH', () => {
    assert.equal(describeForeignBytes(ascii('GET /ws HTTP/1.1\r\n')), 'an HTTP/1.x request');
    assert.equal(describeForeignBytes(ascii('POST / HTTP/1.1\r\n')), 'an HTTP/1.x request');
    assert.equal(describeForeignBytes(ascii('HTTP/1.1 400 Bad Request\r\n')), 'an HTTP/1.x response');
    assert.equal(describeForeignBytes(ascii('SSH-2.0-OpenSSH_9.2\r\n')), 'an SSH banner');
    assert.equal(describeForeignBytes(Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])), 'a TLS handshake');
    assert.equal(describeForeignBytes(ascii('GE')), null);
    assert.equal(describeForeignBytes(new Uint8Array(0)), null);
  });

  it('names the HTTP/2 preface node:http2 sends, and the SETTINGS frame an HTTP/2 server sends first', async () => {
    const preface = await firstChunkReceived((port) => {
      const s = h2connect(`http://127.0.0.1:${port}`);
      s.on('error', () => {});
      return () => s.destroy();
    });
    assert.equal(describeForeignBytes(preface), 'the HTTP/2 (gRPC) connection preface');

    const server = h2createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { connect } = await import('node:net');
    const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
    sock.on('error', () => {});
    const [settings] = (await once(sock, 'data')) as [Buffer];
    sock.destroy();
    server.close();
    assert.equal(describeForeignBytes(new Uint8Array(settings)), 'an HTTP/2 SETTINGS frame (a gRPC or HTTP/2 server)');
  });

  it('never matches the frame of a Packet', () => {
    const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    fc.assert(
      fc.property(
        fc.record({
          mod: int32,
          seq: int32,
          index: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          obj: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
          data: fc.uint8Array({ maxLength: 600 }),
          compress: fc.boolean(),
        }),
        (f) => {
          const body = encodePacket(makePacket(f));
          if (body.length === 0) return; // the all-default Packet: an empty body is never framed
          assert.equal(describeForeignBytes(encodeFrame(body, MAX_FRAME_BYTES_CEILING)), null);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
