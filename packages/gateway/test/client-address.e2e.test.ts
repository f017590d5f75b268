/**
 * The client address behind a trusted proxy (issue 10 item 7): a PROXY protocol header on
 * the TCP listener and X-Forwarded-For on the WebSocket listener, believed only from
 * listen.trustedProxies. Shown on what counts (the per-address handshake limit, refusing
 * at accept with ServerLogout Waiting) and on what backends see (x-md-global-client-ip).
 * The test plays the proxy: it connects from 127.0.0.1 and writes the header itself.
 */
import { strict as assert } from 'node:assert';
import { describe, it, type TestContext } from 'node:test';
import { SCServerLogout_Code as Code, type TunnelMessage } from '@janus/protocol';
import { callUid, discoveryAt, echo, startRawBackend } from './support/bounds.js';
import { ManualClock } from '../src/manual-clock.js';
import { RawClient } from './support/raw-client.js';
import { startStack, type Stack } from './support/stack.js';
import type { GatewayConfigInput } from '../src/index.js';

const PROXY = '127.0.0.1';
const OTHER_PEER = '127.0.0.2';

/** An echoing player backend that records the x-md-global-client-ip of each uid's stream. */
async function recordingBackend(t: TestContext): Promise<{ port: number; clientIp: Map<bigint, string> }> {
  const clientIp = new Map<bigint, string>();
  const b = await startRawBackend({
    '/player.intra.v1.TunnelService/Tunnel': (call) => {
      clientIp.set(callUid(call), String(call.metadata.get('x-md-global-client-ip')[0]));
      call.on('data', (m: TunnelMessage) => call.write(m));
      call.on('end', () => call.end());
    },
  });
  t.after(() => b.close());
  return { port: b.port, clientIp };
}

/**
 * A gateway with a per-address handshake burst of 2 and a clock that stands still (no
 * refill), in front of the recording backend.
 */
async function stackFor(t: TestContext, listen: GatewayConfigInput['listen']): Promise<{ s: Stack; clientIp: Map<bigint, string> }> {
  const backend = await recordingBackend(t);
  const s = await startStack({
    noBackend: true,
    clock: new ManualClock(),
    config: {
      listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, ...listen },
      discovery: discoveryAt(backend.port),
      limits: { handshakesPerSecondPerAddress: 1 },
    },
  });
  t.after(() => s.stop());
  return { s, clientIp: backend.clientIp };
}

function own(t: TestContext, c: RawClient): RawClient {
  t.after(() => c.close());
  return c;
}

/** Handshake and login of `uid` on `c`, then one echo. */
async function session(s: Stack, c: RawClient, uid: number): Promise<void> {
  await c.handshake(s.keys.clientKey, s.keys.pins);
  const auth = c.sendAuth(await s.token(uid));
  const scAuth = await c.nextPacket();
  assert.deepEqual([scAuth?.mod, scAuth?.seq, scAuth?.index], [1, 5, auth.index], `SCAuth of ${uid}`);
  await echo(c, `uid ${uid}`);
}

/** Expects ServerLogout Waiting at accept and the close PROTOCOL.md 2 gives it. */
async function refusedAtAccept(c: RawClient): Promise<void> {
  assert.equal(await c.expectLogout(), Code.Waiting, 'refused at accept');
  assert.deepEqual(await c.ending, c.kind === 'tcp' ? { fin: true } : { wsCode: 1013 });
}

const v1 = (src: string): string => `PROXY TCP4 ${src} 127.0.0.1 40000 17001\r\n`;
/** A v2 PROXY header over TCP/IPv4 from `src`, built by hand. */
function v2(src: string): Buffer {
  const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  return Buffer.from([...sig, 0x21, 0x11, 0, 12, ...src.split('.').map(Number), 127, 0, 0, 1, 0x9c, 0x40, 0x42, 0x69]);
}

describe('PROXY protocol on the TCP listener (listen.tcp.proxyProtocol)', () => {
  it('counts a trusted proxy\'s connections against the addresses its headers name, and tells backends', async (t) => {
    const { s, clientIp } = await stackFor(t, { tcp: { host: '127.0.0.1', port: 0, proxyProtocol: true }, trustedProxies: [PROXY] });
    // Two sessions of one client through the proxy (a v1 and a v2 header): its burst of 2.
    const a = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    a.sendRaw(v1('203.0.113.7'));
    await session(s, a, 1);
    const b = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    b.sendRaw(v2('203.0.113.7'));
    await session(s, b, 2);
    // Its third is refused at accept; another client behind the same proxy is not.
    const c = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    c.sendRaw(v1('203.0.113.7'));
    await refusedAtAccept(c);
    const d = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    d.sendRaw(v2('198.51.100.20'));
    await session(s, d, 3);
    assert.deepEqual([...clientIp], [[1n, '203.0.113.7'], [2n, '203.0.113.7'], [3n, '198.51.100.20']]);
    assert.equal(s.gw.sessions.get(3n)?.transport.remoteAddress, '198.51.100.20');
    // A v2 LOCAL header (the proxy's own health check) keeps the proxy's address: its bucket is still full.
    const local = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    local.sendRaw(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0, 0]));
    await session(s, local, 4);
    assert.equal(clientIp.get(4n), PROXY);
  });

  it('believes no header from an untrusted peer, and requires one from a trusted peer', async (t) => {
    const { s, clientIp } = await stackFor(t, { tcp: { host: '127.0.0.1', port: 0, proxyProtocol: true }, trustedProxies: [OTHER_PEER] });
    // 127.0.0.1 is no proxy here: its header is no Janus frame, so the connection is destroyed, nothing sent.
    const liar = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    liar.sendRaw(v1('203.0.113.7'));
    assert.equal(await liar.nextBody(), null, 'nothing sent');
    // Destroyed after reading all the peer wrote (one segment): the kernel closes with FIN, not RST.
    assert.deepEqual(await liar.ending, { fin: true });
    // Without a header it is an ordinary client, counted as itself: its second connection is
    // the last of its burst of 2 (the liar took the first).
    const plain = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    await session(s, plain, 1);
    assert.equal(clientIp.get(1n), '127.0.0.1');
    await refusedAtAccept(own(t, await RawClient.connect('tcp', s.gw.tcpPort)));
    // The trusted peer must send a header: Janus bytes first are refused, destroyed with nothing sent.
    const headless = own(t, await RawClient.connect('tcp', s.gw.tcpPort, undefined, { localAddress: OTHER_PEER }));
    assert.equal(await headless.sendHello(s.keys.clientKey), null, 'no SCHandshake');
    assert.deepEqual(await headless.ending, { fin: true });
    const proxied = own(t, await RawClient.connect('tcp', s.gw.tcpPort, undefined, { localAddress: OTHER_PEER }));
    proxied.sendRaw(v1('203.0.113.9'));
    await session(s, proxied, 2);
    assert.equal(clientIp.get(2n), '203.0.113.9');
  });
});

describe('PROXY header deadline and shutdown', () => {
  it('destroys a trusted proxy\'s connection whose header is not complete within handshakeMs, and one still waiting at shutdown', async (t) => {
    const clock = new ManualClock();
    const backend = await recordingBackend(t);
    const s = await startStack({
      noBackend: true,
      clock,
      config: {
        listen: { tcp: { host: '127.0.0.1', port: 0, proxyProtocol: true }, ws: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, trustedProxies: [PROXY] },
        discovery: discoveryAt(backend.port),
        timeouts: { handshakeMs: 5000, shutdownMs: 2000 },
      },
    });
    t.after(() => s.stop());
    const slow = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    slow.sendRaw('PROXY TCP4 203.0');
    // Accepts run in order: once a later connection is served, the slow one's deadline is set.
    const served = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    served.sendRaw(v1('198.51.100.1'));
    await session(s, served, 1);
    clock.advance(4999);
    await echo(served, 'the slow one is still waiting');
    assert.equal(slow.bodies.length, 0);
    clock.advance(1);
    assert.equal(await slow.nextBody(), null, 'nothing sent');
    assert.deepEqual(await slow.ending, { fin: true });
    // At shutdown a connection still waiting for its header is cut; admitted ones get Waiting.
    const waiting = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    const last = own(t, await RawClient.connect('tcp', s.gw.tcpPort));
    last.sendRaw(v1('198.51.100.2'));
    await session(s, last, 2);
    await s.gw.close();
    assert.equal(await waiting.nextBody(), null, 'nothing sent');
    assert.deepEqual(await waiting.ending, { fin: true });
    assert.equal(await last.expectLogout(), Code.Waiting);
    assert.equal(await served.expectLogout(), Code.Waiting);
  });
});

describe('X-Forwarded-For on the WebSocket listener (listen.ws.forwardedFor)', () => {
  const xff = (value: string): { headers: Record<string, string> } => ({ headers: { 'x-forwarded-for': value } });

  it('counts a trusted proxy\'s upgrades against the forwarded client address, and tells backends', async (t) => {
    const { s, clientIp } = await stackFor(t, { ws: { host: '127.0.0.1', port: 0, forwardedFor: true }, trustedProxies: [PROXY] });
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, xff('198.51.100.9'))), 1);
    // A chain: the client's own claim on the left is not believed past the first untrusted hop.
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, xff('192.0.2.66, 198.51.100.9, 127.0.0.1'))), 2);
    await refusedAtAccept(own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, xff('198.51.100.9'))));
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, xff('198.51.100.10'))), 3);
    assert.deepEqual([...clientIp], [[1n, '198.51.100.9'], [2n, '198.51.100.9'], [3n, '198.51.100.10']]);
  });

  it('ignores the header of an untrusted peer: counted, and reported, as itself', async (t) => {
    const { s, clientIp } = await stackFor(t, { ws: { host: '127.0.0.1', port: 0, forwardedFor: true }, trustedProxies: [PROXY] });
    const from = (value: string) => ({ localAddress: OTHER_PEER, ...xff(value) });
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, from('198.51.100.1'))), 1);
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, from('198.51.100.2'))), 2);
    await refusedAtAccept(own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, from('198.51.100.3'))));
    assert.deepEqual([...clientIp], [[1n, OTHER_PEER], [2n, OTHER_PEER]]);
    // The trusted proxy's own bucket was not touched by any of it.
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, xff('198.51.100.3'))), 3);
    assert.equal(clientIp.get(3n), '198.51.100.3');
  });

  it('ignores X-Forwarded-For when forwardedFor is off, even from a trusted proxy', async (t) => {
    const { s, clientIp } = await stackFor(t, { trustedProxies: [PROXY] });
    await session(s, own(t, await RawClient.connect('ws', s.gw.wsPort, undefined, xff('198.51.100.9'))), 1);
    assert.equal(clientIp.get(1n), PROXY);
  });
});
