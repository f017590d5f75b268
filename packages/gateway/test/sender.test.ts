/**
 * The send path's order around a deflate (connection/sender.ts, PROTOCOL.md 8
 * "Compression"): Packets behind a deflate go out after it, in call order, also when the
 * deflate fails (the data then goes uncompressed). A fake transport records the bodies.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import pino from 'pino';
import { decodeMessage, decodePacket, makePacket, SCServerUnexpectedErrSchema, type Packet } from '@janus/protocol';
import { Sender } from '../src/connection/sender.js';
import type { ZlibPool } from '../src/connection/zlib-pool.js';
import type { Transport } from '../src/transport.js';

function recorder(): { transport: Transport; sent: Packet[] } {
  const sent: Packet[] = [];
  const transport = {
    kind: 'tcp',
    remoteAddress: '127.0.0.1',
    bufferedBytes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    attach() {},
    send: (body: Uint8Array) => sent.push(decodePacket(body)),
    pause() {},
    resume() {},
    close() {},
  } satisfies Transport;
  return { transport, sent };
}

/** A zlib pool whose deflates settle when the test says: `fail` rejects the oldest, `pass` resolves it with the data reversed. */
function manualZlib(): { zlib: ZlibPool; fail(): void; pass(): void } {
  const waiting: { data: Uint8Array; resolve(d: Uint8Array): void; reject(e: Error): void }[] = [];
  const zlib = {
    deflate: (data: Uint8Array) => new Promise<Uint8Array>((resolve, reject) => waiting.push({ data, resolve, reject })),
  } as unknown as ZlibPool;
  return {
    zlib,
    fail: () => waiting.shift()!.reject(new Error('zlib refused')),
    pass: () => {
      const w = waiting.shift()!;
      w.resolve(Uint8Array.from(w.data).reverse());
    },
  };
}

const LIMITS = { compressThreshold: 100, compressLevel: 1, maxFrameBytes: 1 << 16, maxInflateBytes: 300, sendQueueBytes: 1 << 20 };
const big = (n: number): Uint8Array => new Uint8Array(200).fill(n);
const small = (n: number): Uint8Array => new Uint8Array([n]);
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Sender: Packets behind a deflate', () => {
  it('go out after a deflate that fails, in call order, the failed one uncompressed', async () => {
    const { transport, sent } = recorder();
    const z = manualZlib();
    const s = new Sender(transport, LIMITS, z.zlib, { onCannotSend: () => assert.fail('no slow consumer here') }, pino({ level: 'silent' }));
    s.send(makePacket({ mod: 3, seq: 1, index: 1, data: big(1) }));
    s.send(makePacket({ mod: 3, seq: 1, index: 2, data: small(2) }));
    s.send(makePacket({ mod: 3, seq: 1, index: 3, data: big(3) }));
    s.send(makePacket({ mod: 3, seq: 1, index: 4, data: small(4) }));
    assert.equal(sent.length, 0, 'everything waits behind the first deflate');
    z.fail();
    await settle();
    // The failed one went uncompressed, the small one behind it, then the next deflate holds the rest.
    assert.deepEqual(sent.map((p) => [p.index, p.compress]), [[1, false], [2, false]]);
    assert.deepEqual(Uint8Array.from(sent[0]!.data), big(1));
    z.pass();
    await settle();
    assert.deepEqual(sent.map((p) => [p.index, p.compress]), [[1, false], [2, false], [3, true], [4, false]]);
    assert.equal(s.queuedBytes, 0);
  });

  it('a reply whose data to deflate is over maxInflateBytes is answered "reply too large" in its place; such a push is dropped', async () => {
    const { transport, sent } = recorder();
    const z = manualZlib();
    let oversize = 0;
    const s = new Sender(transport, LIMITS, z.zlib, { onCannotSend: () => assert.fail('no slow consumer here'), onOversize: () => oversize++ }, pino({ level: 'silent' }));
    s.send(makePacket({ mod: 3, seq: 1, index: 1, data: big(1) }));
    s.send(makePacket({ mod: 3, seq: 2, index: 2, data: new Uint8Array(301) }));
    s.send(makePacket({ mod: 3, seq: 3, index: 0, data: new Uint8Array(301) }));
    s.send(makePacket({ mod: 3, seq: 4, index: 0, data: new Uint8Array(300) }));
    assert.equal(oversize, 2);
    z.pass();
    await settle();
    z.pass();
    await settle();
    // Data of maxInflateBytes goes out deflated; the reply over it became ServerUnexpectedErr after the first one.
    assert.deepEqual(sent.map((p) => [p.mod, p.seq, p.index, p.compress]), [[3, 1, 1, true], [1, 3, 2, false], [3, 4, 0, true]]);
    assert.equal(decodeMessage(SCServerUnexpectedErrSchema, sent[1]!.data).msg, 'reply too large');
    assert.equal(s.queuedBytes, 0);
  });
});
