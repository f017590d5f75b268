/**
 * The trace context fields of a TunnelRequest (tunnel-trace.ts; docs/decisions/0019):
 * exact bytes, appended after the contract's fields, skipped as unknown fields by the
 * hand-written and the generated codec, and read back (or dropped when broken).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  decodeTunnelMessage,
  encodeTunnelMessage,
  encodeTunnelTraceContext,
  makeTunnelMessage,
  PlayerTunnelRequestSchema,
  readTunnelTraceContext,
  toHex,
  TUNNEL_TRACE_FIELDS,
} from '../src/index.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tunnel trace context', () => {
  it('encodes traceparent as field 100 and tracestate as field 101 (length-delimited strings)', () => {
    assert.deepEqual(TUNNEL_TRACE_FIELDS, { traceparent: 100, tracestate: 101 });
    const b = encodeTunnelTraceContext({ traceparent: TRACEPARENT, tracestate: 'k=v' });
    // tag 100<<3|2 = 802 = varint a2 06; tag 101<<3|2 = 810 = varint aa 06.
    const expected = 'a206' + '37' + Buffer.from(TRACEPARENT).toString('hex') + 'aa06' + '03' + Buffer.from('k=v').toString('hex');
    assert.equal(toHex(b), expected);
    assert.equal(toHex(encodeTunnelTraceContext({ traceparent: TRACEPARENT, tracestate: '' })), expected.slice(0, 4 + 2 + TRACEPARENT.length * 2), 'no tracestate field when empty');
    assert.equal(encodeTunnelTraceContext({ traceparent: '', tracestate: 'k=v' }).length, 0, 'nothing without a traceparent');
  });

  it('is appended after field 11, and both codecs read the message as if it were not there', () => {
    const m = makeTunnelMessage({ data: new Uint8Array([1, 2, 3]), obj: 42n, mod: 4, seq: 2, index: 7, ver: 3 });
    const plain = encodeTunnelMessage(m);
    const tail = encodeTunnelTraceContext({ traceparent: TRACEPARENT, tracestate: 'a=1,b=2' });
    const traced = encodeTunnelMessage(m, 0, tail);
    assert.equal(toHex(traced), toHex(plain) + toHex(tail), 'ascending field order: the trace fields come last');
    assert.deepEqual(decodeTunnelMessage(traced), decodeTunnelMessage(plain));
    // A backend built on the generated schema (any protobuf implementation) skips them too.
    const generated = fromBinary(PlayerTunnelRequestSchema, traced);
    assert.equal(toHex(toBinary(PlayerTunnelRequestSchema, create(PlayerTunnelRequestSchema, { ...generated, $unknown: undefined }))), toHex(plain));
    assert.deepEqual(readTunnelTraceContext(traced), { traceparent: TRACEPARENT, tracestate: 'a=1,b=2' });
  });

  it('keeps the headroom for the gRPC prefix in front', () => {
    const m = makeTunnelMessage({ mod: 3, seq: 1 });
    const tail = encodeTunnelTraceContext({ traceparent: TRACEPARENT, tracestate: '' });
    const framed = encodeTunnelMessage(m, 5, tail);
    assert.equal(toHex(framed.subarray(5)), toHex(encodeTunnelMessage(m)) + toHex(tail));
  });

  it('reads null from a message without a trace context, and the last occurrence of a field wins', () => {
    assert.equal(readTunnelTraceContext(encodeTunnelMessage(makeTunnelMessage({ mod: 3, seq: 1 }))), null);
    assert.equal(readTunnelTraceContext(new Uint8Array(0)), null);
    const first = encodeTunnelTraceContext({ traceparent: '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01', tracestate: 'x=1' });
    const second = encodeTunnelTraceContext({ traceparent: TRACEPARENT, tracestate: '' });
    const both = new Uint8Array([...first, ...second]);
    assert.deepEqual(readTunnelTraceContext(both), { traceparent: TRACEPARENT, tracestate: 'x=1' });
  });

  it('drops a broken trace context (wrong wire type, not UTF-8) instead of failing the request', () => {
    // field 100 as a varint: tag 100<<3|0 = 800 = varint a0 06.
    const varint = new Uint8Array([0xa0, 0x06, 0x01]);
    assert.equal(readTunnelTraceContext(varint), null);
    assert.deepEqual(decodeTunnelMessage(varint), makeTunnelMessage({}));
    const badUtf8 = new Uint8Array([0xa2, 0x06, 0x02, 0xc3, 0x28]);
    assert.equal(readTunnelTraceContext(badUtf8), null);
  });
});
