/**
 * TLS on the WebSocket listener (listen.ws.tls, issue 10 item 7): a wss:// session with a
 * self-signed certificate made for the test, what a client that does not trust it or
 * speaks plain ws:// gets, and the start-up checks of the certificate and key files.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { JanusClient } from '@janus/client';
import { createGateway, loadConfigFile, parseConfig } from '../src/index.js';
import { echo } from './support/bounds.js';
import { RawClient } from './support/raw-client.js';
import { makeKeys, startStack, type Stack } from './support/stack.js';
import { makeSelfSignedCert, type TestCert } from './support/tls-cert.js';

let dir = '';
let cert: TestCert;
let other: TestCert;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'janus-wss-'));
  cert = await makeSelfSignedCert(dir, 'gateway');
  other = await makeSelfSignedCert(dir, 'other');
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function wssStack(t: TestContext): Promise<Stack> {
  const s = await startStack({
    config: {
      listen: {
        tcp: { host: '127.0.0.1', port: 0 },
        ws: { host: '127.0.0.1', port: 0, tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
        grpc: { host: '127.0.0.1', port: 19100 },
      },
    },
  });
  t.after(() => s.stop());
  return s;
}

const configError = (key: string) => (e: unknown) => isJanusError(e, ErrorCode.ConfigInvalid) && e.message.startsWith(`config ${key}:`);

describe('wss:// (listen.ws.tls)', () => {
  it('serves a session over TLS to a client that trusts the self-signed certificate: handshake, login, echo', async (t) => {
    const s = await wssStack(t);
    const c = await RawClient.connect('ws', s.gw.wsPort, ['janus.v1'], { ca: cert.certPem });
    t.after(() => c.close());
    assert.equal(c.wsProtocol, 'janus.v1');
    await c.handshake(s.keys.clientKey, s.keys.pins);
    const auth = c.sendAuth(await s.token(31));
    const scAuth = await c.nextPacket();
    assert.deepEqual([scAuth?.mod, scAuth?.seq, scAuth?.index], [1, 5, auth.index], 'SCAuth');
    await echo(c, 'over wss');
    assert.equal(s.gw.sessions.get(31n)?.transport.kind, 'ws');
    // The TCP listener is unchanged: plain frames.
    const tcp = await RawClient.connect('tcp', s.gw.tcpPort);
    t.after(() => tcp.close());
    await tcp.handshake(s.keys.clientKey, s.keys.pins);
  });

  it('carries a client SDK session over wss:// with tls.ca, and refuses the certificate without it', async (t) => {
    const s = await wssStack(t);
    const base = { transport: 'ws' as const, host: '127.0.0.1', port: s.gw.wsPort, token: await s.token(32), clientKeyPem: s.keys.clientKeyPem, serverKeys: { 1: s.keys.serverPubPem } };
    const client = await JanusClient.connect({ ...base, tls: { ca: cert.certPem } });
    t.after(() => client.close());
    assert.equal(client.session.uid, 32n);
    const reply = await client.request(3, 1, new TextEncoder().encode('sdk over wss'));
    assert.equal(new TextDecoder().decode(reply.data), 'sdk over wss');
    // Node's default CAs do not include the test's certificate; ws:// to the TLS port is no WebSocket.
    await assert.rejects(JanusClient.connect({ ...base, tls: true }), (e: unknown) => isJanusError(e, ErrorCode.ConnectionClosed) && /self-signed certificate/.test(e.message));
    await assert.rejects(JanusClient.connect(base), (e: unknown) => isJanusError(e, ErrorCode.ConnectionClosed));
    // rejectUnauthorized: false (development only) skips the check.
    const lax = await JanusClient.connect({ ...base, token: await s.token(33), tls: { rejectUnauthorized: false } });
    t.after(() => lax.close());
    assert.equal(lax.session.uid, 33n);
  });

  it('refuses a client that does not trust the certificate, or that speaks plain ws:// to the TLS port', async (t) => {
    const s = await wssStack(t);
    await assert.rejects(RawClient.connect('ws', s.gw.wsPort, ['janus.v1'], { ca: other.certPem }), /self-signed certificate/);
    await assert.rejects(RawClient.connect('ws', s.gw.wsPort), (err: Error) => /socket hang up|ECONNRESET|Unexpected server response/.test(err.message));
    assert.equal(s.gw.connectionCount, 0, 'neither became a connection');
  });

  it('refuses to start with a missing file or a key that is not the certificate\'s, naming the key', async (t) => {
    const keys = await makeKeys();
    t.after(() => rmSync(keys.dir, { recursive: true, force: true }));
    const cfg = (tls: { certFile: string; keyFile: string }) =>
      parseConfig({ listen: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0, tls } }, keys: { dir: keys.dir }, log: { level: 'silent' } });
    const missing = join(dir, 'nope.pem');
    await assert.rejects(createGateway(cfg({ certFile: missing, keyFile: cert.keyFile })), configError('listen.ws.tls.certFile'));
    await assert.rejects(createGateway(cfg({ certFile: cert.certFile, keyFile: missing })), configError('listen.ws.tls.keyFile'));
    await assert.rejects(createGateway(cfg({ certFile: cert.certFile, keyFile: other.keyFile })), configError('listen.ws.tls'));
    await assert.rejects(createGateway(cfg({ certFile: cert.keyFile, keyFile: cert.keyFile })), configError('listen.ws.tls'));
    assert.throws(() => parseConfig({ listen: { ws: { tls: { certFile: cert.certFile } } } }), configError('listen.ws.tls.keyFile'));
    assert.throws(() => parseConfig({ listen: { ws: { tls: { certFile: 'a', keyFile: 'b', ca: 'c' } } } }), configError('listen.ws.tls'));
  });

  it('resolves relative certificate and key paths against the config file', () => {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, 'listen:\n  ws: { tls: { certFile: gateway.cert.pem, keyFile: ./gateway.key.pem } }\n');
    const c = loadConfigFile(file, {});
    assert.deepEqual(c.listen.ws.tls, { certFile: cert.certFile, keyFile: cert.keyFile });
  });
});
