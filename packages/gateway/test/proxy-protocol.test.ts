/**
 * Units of the client address behind a proxy: the PROXY protocol v1/v2 header parser fed
 * hand-built bytes (haproxy's proxy-protocol.txt examples), the header reader on a real
 * socket pair, the trusted-proxy list and the X-Forwarded-For walk.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { forwardedClientAddress, TrustedProxies } from '../src/client-address.js';
import { parseConfig } from '../src/config.js';
import { parseProxyHeader, readProxyHeader, PROXY_V2_MAX_BYTES } from '../src/proxy-protocol.js';
import { ManualClock } from '../src/manual-clock.js';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: signature, version/command, family/transport, u16be length, then `rest`. */
function v2(verCmd: number, fam: number, rest: number[], declared = rest.length): Buffer {
  return Buffer.from([...SIG, verCmd, fam, declared >> 8, declared & 0xff, ...rest]);
}

const IPV4_BODY = [203, 0, 113, 7, 10, 0, 0, 1, 0x15, 0xb3, 0x42, 0x69]; // 203.0.113.7 -> 10.0.0.1, 5555 -> 17001
const IPV6_BODY = [
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, // 2001:db8::42
  ...Array<number>(15).fill(0), 1, // ::1
  0x15, 0xb3, 0x42, 0x69,
];

const proxyError = (e: unknown) => isJanusError(e, ErrorCode.ProxyHeaderInvalid);

describe('parseProxyHeader', () => {
  it('reads v1 TCP4, TCP6 and UNKNOWN lines, and says how long the header is', () => {
    const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 5555 17001\r\n';
    assert.deepEqual(parseProxyHeader(Buffer.from(line + 'rest')), { source: '203.0.113.7', length: line.length });
    const tcp6 = 'PROXY TCP6 2001:db8::42 ::1 5555 17001\r\n';
    assert.deepEqual(parseProxyHeader(Buffer.from(tcp6)), { source: '2001:db8::42', length: tcp6.length });
    const unknown = 'PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n';
    assert.deepEqual(parseProxyHeader(Buffer.from(unknown + 'x')), { source: null, length: unknown.length });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { source: null, length: 15 });
  });

  it('waits for more bytes of an incomplete header, byte by byte', () => {
    const whole = Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 17001\r\n'), v2(0x21, 0x11, IPV4_BODY)]);
    for (const header of [whole.subarray(0, 44), whole.subarray(44)]) {
      for (let n = 0; n < header.length; n++) assert.equal(parseProxyHeader(header.subarray(0, n)), null, `${n} bytes`);
      assert.equal(parseProxyHeader(header)?.source, '203.0.113.7');
    }
  });

  it('reads v2 PROXY over IPv4 and IPv6 (TLVs skipped), and LOCAL, UNSPEC and UNIX as no address', () => {
    const tlv = [0x04, 0x00, 0x03, 0x61, 0x62, 0x63]; // PP2_TYPE_NOOP, 3 bytes
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x11, [...IPV4_BODY, ...tlv])), { source: '203.0.113.7', length: 16 + 12 + 6 });
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x21, IPV6_BODY)), { source: '2001:db8::42', length: 16 + 36 });
    assert.deepEqual(parseProxyHeader(v2(0x20, 0x00, [])), { source: null, length: 16 });
    assert.deepEqual(parseProxyHeader(v2(0x20, 0x11, IPV4_BODY)), { source: null, length: 28 }, 'LOCAL ignores addresses');
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, [])), { source: null, length: 16 });
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x31, Array<number>(216).fill(0))), { source: null, length: 232 });
  });

  it('refuses what is not a header, with JANUS_ERR_PROXY_HEADER', () => {
    const bad: [string, Buffer][] = [
      ['a Janus frame', Buffer.from([0, 0, 0, 40, 1, 2])],
      ['not PROXY', Buffer.from('PROXZ TCP4')],
      ['an unknown v1 protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')],
      ['a v1 address of the wrong family', Buffer.from('PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n')],
      ['a v1 port out of range', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
      ['a v1 line with a field missing', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
      ['a v1 line over 107 bytes', Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(100))],
      ['a broken v2 signature', Buffer.from([...SIG.slice(0, 11), 0x0b])],
      ['v2 version 1', v2(0x11, 0x11, IPV4_BODY)],
      ['v2 command 2', v2(0x22, 0x11, IPV4_BODY)],
      ['v2 IPv4 addresses truncated', v2(0x21, 0x11, IPV4_BODY.slice(0, 8))],
      ['v2 IPv6 addresses truncated', v2(0x21, 0x21, IPV4_BODY)],
      ['v2 family 4', v2(0x21, 0x41, IPV4_BODY)],
      ['a v2 header over the bound', v2(0x21, 0x11, [], PROXY_V2_MAX_BYTES)],
    ];
    for (const [what, bytes] of bad) assert.throws(() => parseProxyHeader(bytes), proxyError, what);
  });
});

describe('readProxyHeader', () => {
  async function pair(): Promise<{ server: Socket; client: Socket; close(): void }> {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const accepted = once(srv, 'connection') as Promise<[Socket]>;
    const client = connect((srv.address() as { port: number }).port, '127.0.0.1');
    const [server] = await accepted;
    return { server, client, close: () => (client.destroy(), server.destroy(), srv.close()) };
  }

  it('hands the bytes behind the header to whoever reads the socket next, however they were split', async (t) => {
    const clock = new ManualClock();
    for (const split of [0, 5, 30, 44, 46]) {
      const p = await pair();
      t.after(p.close);
      const header = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 17001\r\n');
      const payload = Buffer.from('the client stream');
      const whole = Buffer.concat([header, payload]);
      const read = readProxyHeader(p.server, 5000, clock);
      if (split > 0) p.client.write(whole.subarray(0, split));
      p.client.end(whole.subarray(split));
      assert.deepEqual(await read, { source: '203.0.113.7', length: header.length });
      assert.ok(p.server.isPaused(), 'paused until a transport attaches');
      const chunks: Buffer[] = [];
      p.server.on('data', (c: Buffer) => chunks.push(c));
      p.server.resume();
      await once(p.server, 'end');
      assert.equal(Buffer.concat(chunks).toString(), 'the client stream', `split at ${split}`);
    }
  });

  it('rejects a header that is not complete by the deadline (the clock port), or a socket that closes first', async (t) => {
    const clock = new ManualClock();
    const p = await pair();
    t.after(p.close);
    const read = readProxyHeader(p.server, 5000, clock);
    p.client.write('PROXY TCP4 203.0');
    await once(p.server, 'data');
    let settled = false;
    read.then(() => (settled = true), () => (settled = true));
    clock.advance(4999);
    await new Promise(setImmediate);
    assert.equal(settled, false, 'still waiting 1 ms before the deadline');
    clock.advance(1);
    await assert.rejects(read, (e: unknown) => isJanusError(e, ErrorCode.HandshakeTimeout));
    const q = await pair();
    t.after(q.close);
    const closed = readProxyHeader(q.server, 5000, clock);
    q.client.destroy();
    await assert.rejects(closed, (e: unknown) => isJanusError(e, ErrorCode.ConnectionClosed));
  });
});

describe('TrustedProxies and X-Forwarded-For', () => {
  const trusted = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

  it('matches addresses and ranges, IPv4-mapped IPv6 included', () => {
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.2.3', 'fd12::1']) assert.ok(trusted.has(a), a);
    for (const a of ['127.0.0.2', '11.0.0.1', '::1', 'fe80::1', '', 'not-an-ip']) assert.ok(!trusted.has(a), a);
    assert.ok(!new TrustedProxies([]).has('127.0.0.1'));
  });

  it('refuses entries that are no address or range, naming the entry', () => {
    const named = (i: number) => (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && e.message.startsWith(`config listen.trustedProxies.${i}:`);
    assert.throws(() => new TrustedProxies(['10.0.0.1', 'proxy.local']), named(1));
    assert.throws(() => new TrustedProxies(['10.0.0.0/33']), named(0));
    assert.throws(() => new TrustedProxies(['::/129']), named(0));
    assert.throws(() => parseConfig({ listen: { trustedProxies: ['x'] } }), named(0));
    const noneTrusted = (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && e.message.startsWith('config listen.trustedProxies:');
    assert.throws(() => parseConfig({ listen: { tcp: { proxyProtocol: true } } }), noneTrusted);
    assert.throws(() => parseConfig({ listen: { ws: { forwardedFor: true } } }), noneTrusted);
    assert.equal(parseConfig({ listen: { trustedProxies: ['127.0.0.1'], ws: { forwardedFor: true } } }).listen.tcp.proxyProtocol, false);
  });

  it('takes the first untrusted hop from the right, only when the peer is trusted', () => {
    const cases: [string, string | string[] | undefined, string][] = [
      ['127.0.0.1', '198.51.100.9', '198.51.100.9'],
      ['127.0.0.1', '198.51.100.9, 10.0.0.7', '198.51.100.9'],
      ['127.0.0.1', '192.0.2.1, 198.51.100.9, 10.0.0.7', '198.51.100.9'], // a client-made left part is not believed
      ['127.0.0.1', ['192.0.2.1', '198.51.100.9'], '198.51.100.9'],
      ['127.0.0.1', '10.0.0.5, 10.0.0.7', '10.0.0.5'], // every hop trusted: the leftmost
      ['127.0.0.1', '198.51.100.9:4711', '198.51.100.9'],
      ['127.0.0.1', '[2001:db8::9]:4711', '2001:db8::9'],
      ['127.0.0.1', '2001:db8::9', '2001:db8::9'],
      ['127.0.0.1', 'unknown, 10.0.0.7', '10.0.0.7'], // the walk stops at a non-address
      ['127.0.0.1', '', '127.0.0.1'],
      ['127.0.0.1', undefined, '127.0.0.1'],
      ['::ffff:127.0.0.1', '198.51.100.9', '198.51.100.9'],
      ['127.0.0.2', '198.51.100.9', '127.0.0.2'], // an untrusted peer's header is ignored
    ];
    for (const [peer, header, want] of cases) assert.equal(forwardedClientAddress(peer, header, trusted), want, `${peer} ${String(header)}`);
  });
});
