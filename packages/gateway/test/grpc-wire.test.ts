/** The gRPC framing and status pieces of the tunnel client (grpc-wire.ts). */
import { strict as assert } from 'node:assert';
import { constants as h2 } from 'node:http2';
import { describe, it } from 'node:test';
import { encodeTunnelMessage, makeTunnelMessage } from '@janus/protocol';
import { grpcTunnelMessage, GrpcMessageReader, GrpcStatus, statusFromHeaders, statusFromReset } from '../src/grpc-wire.js';

/** A gRPC message frame of `body` (flag 0, u32be length), built independently of the code under test. */
function grpcFrame(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function collect(max = 1 << 20): { reader: GrpcMessageReader; got: string[] } {
  const got: string[] = [];
  return { reader: new GrpcMessageReader(max, (b) => got.push(b.toString('utf8'))), got };
}

describe('gRPC message framing', () => {
  it('prefixes a message with flag 0 and its u32be length', () => {
    const m = makeTunnelMessage({ mod: 3, seq: 1, index: 7, data: Buffer.from('abc') });
    const body = [...encodeTunnelMessage(m)];
    assert.deepEqual([...grpcTunnelMessage(m)], [0, 0, 0, 0, body.length, ...body]);
  });

  it('gives the same messages however the stream is split, including byte by byte', () => {
    const stream = Buffer.concat(['one', '', 'three', 'x'.repeat(300)].map((m) => grpcFrame(Buffer.from(m))));
    const whole = collect();
    assert.equal(whole.reader.push(stream), null);
    for (const cut of [1, 2, 4, 5, 6, 9, 17, stream.length - 1]) {
      const c = collect();
      assert.equal(c.reader.push(stream.subarray(0, cut)), null);
      assert.equal(c.reader.push(stream.subarray(cut)), null);
      assert.deepEqual(c.got, whole.got, `split at ${cut}`);
    }
    const bytes = collect();
    for (const b of stream) assert.equal(bytes.reader.push(Buffer.from([b])), null);
    assert.deepEqual(bytes.got, ['one', '', 'three', 'x'.repeat(300)]);
  });

  it('refuses a message over the limit as soon as its prefix arrives, and a compressed one', () => {
    const big = collect(10);
    const err = big.reader.push(Buffer.from([0, 0, 0, 0, 11]));
    assert.equal(err?.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.deepEqual(big.got, []);
    const z = collect();
    assert.equal(z.reader.push(Buffer.from([1, 0, 0, 0, 1, 0x78]))?.code, GrpcStatus.INTERNAL);
  });
});

describe('gRPC status', () => {
  it('reads grpc-status and a percent-encoded grpc-message; null without grpc-status', () => {
    assert.deepEqual(statusFromHeaders({ 'grpc-status': '13', 'grpc-message': 'bad%20thing%3A%20%E2%9C%97' }), { code: 13, details: 'bad thing: ✗' });
    assert.deepEqual(statusFromHeaders({ 'grpc-status': '0' }), { code: 0, details: '' });
    assert.deepEqual(statusFromHeaders({ 'grpc-status': '2', 'grpc-message': '100%' }), { code: 2, details: '100%' }, 'kept as sent when not valid percent-encoding');
    assert.equal(statusFromHeaders({ ':status': '200' }), null);
    assert.equal(statusFromHeaders({ 'grpc-status': 'x' })?.code, GrpcStatus.UNKNOWN);
  });

  it('maps a stream reset without status as gRPC does', () => {
    assert.equal(statusFromReset(h2.NGHTTP2_CANCEL).code, GrpcStatus.CANCELLED);
    assert.equal(statusFromReset(h2.NGHTTP2_REFUSED_STREAM).code, GrpcStatus.UNAVAILABLE);
    assert.equal(statusFromReset(h2.NGHTTP2_ENHANCE_YOUR_CALM).code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(statusFromReset(h2.NGHTTP2_NO_ERROR).code, GrpcStatus.INTERNAL);
    assert.equal(statusFromReset(h2.NGHTTP2_PROTOCOL_ERROR).code, GrpcStatus.INTERNAL);
  });
});
