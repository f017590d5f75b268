/** The gRPC framing and status pieces shared by the gateway's tunnel client, its push server and the backend SDK's tunnel server (grpc-wire.ts). */
import { strict as assert } from 'node:assert';
import { constants as h2 } from 'node:http2';
import { describe, it } from 'node:test';
import { encodeTunnelMessage, makeTunnelMessage } from '../src/index.js';
import { encodeGrpcMessage, grpcTunnelMessage, GrpcMessageReader, GrpcStatus, statusFromHeaders, statusFromReset } from '../src/grpc-wire.js';

/** A gRPC message frame of `body` (flag 0, u32be length), built independently of the code under test. */
function grpcFrame(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function collect(max = 1 << 20): { reader: GrpcMessageReader; got: string[]; oversized: { fields: Buffer; bytes: number }[] } {
  const got: string[] = [];
  const oversized: { fields: Buffer; bytes: number }[] = [];
  const reader = new GrpcMessageReader(max, (b) => got.push(b.toString('utf8')), (fields, bytes) => oversized.push({ fields: Buffer.from(fields), bytes }));
  return { reader, got, oversized };
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

  it('refuses a compressed message', () => {
    const z = collect();
    assert.equal(z.reader.push(Buffer.from([1, 0, 0, 0, 1, 0x78]))?.code, GrpcStatus.INTERNAL);
  });

  it('reads a message over the limit by without its data, however split, and goes on with the next', () => {
    const m = makeTunnelMessage({ mod: 3, seq: 9, index: 77, obj: 5n, ver: 2, data: Buffer.alloc(3000, 7) });
    const big = Buffer.from(encodeTunnelMessage(m));
    const stream = Buffer.concat([grpcFrame(big), grpcFrame(Buffer.from('after'))]);
    const expected = Buffer.from(encodeTunnelMessage({ ...m, data: new Uint8Array(0) }));
    for (const cut of [1, 5, 6, 7, 8, 100, big.length, big.length + 4, stream.length - 1]) {
      const c = collect(1000);
      assert.equal(c.reader.push(stream.subarray(0, cut)), null);
      assert.equal(c.reader.push(stream.subarray(cut)), null);
      assert.deepEqual(c.oversized, [{ fields: expected, bytes: big.length }], `split at ${cut}`);
      assert.deepEqual(c.got, ['after']);
    }
    const bytes = collect(1000);
    for (const b of stream) assert.equal(bytes.reader.push(Buffer.from([b])), null);
    assert.deepEqual(bytes.oversized, [{ fields: expected, bytes: big.length }]);
    assert.deepEqual(bytes.got, ['after']);
  });

  it('keeps the fields of an oversized message in any order, unknown ones included; drops every data field', () => {
    // index 6 = 9 (varint), an unknown fixed64 field 15, data, an unknown length field 20, data again, mod 4 = 3.
    const body = Buffer.concat([
      Buffer.from([0x30, 9]),
      Buffer.from([(15 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]),
      Buffer.from([0x0a, 0x90, 0x03]), Buffer.alloc(400, 1),
      Buffer.from([0xa2, 0x01, 2, 0xaa, 0xbb]), // tag (20 << 3) | 2 as a varint
      Buffer.from([0x0a, 0x00]),
      Buffer.from([0x20, 3]),
    ]);
    const c = collect(100);
    assert.equal(c.reader.push(grpcFrame(body)), null);
    assert.deepEqual(c.oversized, [
      { fields: Buffer.from([0x30, 9, (15 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, 0xa2, 0x01, 2, 0xaa, 0xbb, 0x20, 3]), bytes: body.length },
    ]);
  });

  it('fails on an oversized message that is not protobuf, or keeps too much outside its data', () => {
    const group = collect(4);
    assert.equal(group.reader.push(grpcFrame(Buffer.from([0x0b, 0, 0, 0, 0, 0])))?.code, GrpcStatus.INTERNAL, 'wire type 3');
    const split = collect(4);
    const whole = grpcFrame(Buffer.from([0x20, 3, 0x0a, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    assert.equal(split.reader.push(whole.subarray(0, 9)), null, 'a field may go on in the next chunk');
    assert.equal(split.reader.push(whole.subarray(9)), null);
    assert.deepEqual(split.oversized, [{ fields: Buffer.from([0x20, 3]), bytes: 14 }]);
    const truncated = collect(4);
    assert.equal(truncated.reader.push(grpcFrame(Buffer.from([0x20, 3, 0x0a, 10, 1, 2])))?.code, GrpcStatus.INTERNAL, 'the message ends inside a field');
    const fat = collect(100);
    const unknown = Buffer.concat([Buffer.from([0xa2, 0x01, 0x90, 0x10]), Buffer.alloc(2064)]);
    assert.equal(fat.reader.push(grpcFrame(unknown))?.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.deepEqual([fat.got, fat.oversized], [[], []]);
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

  it('percent-encodes a grpc-message as the spec says: only bytes outside printable ASCII, and %', () => {
    assert.equal(encodeGrpcMessage('unknown method /a.B/C: x=1'), 'unknown method /a.B/C: x=1');
    assert.equal(encodeGrpcMessage('100% ✗\n'), '100%25 %E2%9C%97%0A');
    assert.equal(encodeGrpcMessage('bad \uD800 text'), 'bad %EF%BF%BD text', 'a lone surrogate goes as U+FFFD');
    for (const s of ['plain', 'a/b%c', 'ünï ✗ \t', '']) assert.equal(statusFromHeaders({ 'grpc-status': '2', 'grpc-message': encodeGrpcMessage(s) })?.details, s);
  });

  it('maps a stream reset without status as gRPC does', () => {
    assert.equal(statusFromReset(h2.NGHTTP2_CANCEL).code, GrpcStatus.CANCELLED);
    assert.equal(statusFromReset(h2.NGHTTP2_REFUSED_STREAM).code, GrpcStatus.UNAVAILABLE);
    assert.equal(statusFromReset(h2.NGHTTP2_ENHANCE_YOUR_CALM).code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(statusFromReset(h2.NGHTTP2_NO_ERROR).code, GrpcStatus.INTERNAL);
    assert.equal(statusFromReset(h2.NGHTTP2_PROTOCOL_ERROR).code, GrpcStatus.INTERNAL);
  });
});

describe('GrpcMessageReader without onOversized (a server reading requests)', () => {
  it('refuses an oversized message at its length prefix, and tells a body that ends inside a message', () => {
    const got: Buffer[] = [];
    const r = new GrpcMessageReader(100, (b) => got.push(Buffer.from(b)), null);
    const small = grpcFrame(Buffer.alloc(60, 1));
    // A byte at a time: the prefix and the body split; one message out, once, when complete.
    for (let i = 0; i < small.length; i++) {
      assert.equal(r.push(small.subarray(i, i + 1)), null);
      assert.equal(r.partial, i < small.length - 1);
    }
    assert.deepEqual(got, [Buffer.alloc(60, 1)]);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(101, 1);
    assert.deepEqual(r.push(head), { code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'message of 101 bytes is over the limit of 100 bytes' });
  });
});
