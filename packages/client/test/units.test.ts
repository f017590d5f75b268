/**
 * Unit tests without sockets: the reconnect policy, option validation, bounded inflate
 * (node:zlib and the browser's CompressionStream, which Node has too), and the WebSocket URL.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { ErrorCode, isJanusError, SCServerLogout_Code } from '@janus/protocol';
import { deflateData, inflateLimited } from '../src/compress.js';
import { deflateWeb, inflateWeb } from '../src/compress-web.js';
import { CLIENT_DEFAULTS, resolveOptions as resolveWith, type ClientOptions } from '../src/options.js';
import { browserPlatform } from '../src/platform-browser.js';
import { nodePlatform } from '../src/platform-node.js';
import { FINAL_LOGOUT_CODES, isFinalLogout, reconnectDelay } from '../src/reconnect.js';
import { wsUrl } from '../src/url.js';

function pems(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const KEYS = pems();
const resolveOptions = (o: ClientOptions): ReturnType<typeof resolveWith> => resolveWith(o, nodePlatform);
const BASE: ClientOptions = { transport: 'tcp', host: '127.0.0.1', port: 17001, token: 'abc', clientKeyPem: KEYS.priv, serverKeys: { 1: KEYS.pub } };

async function configError(o: unknown, key: string): Promise<void> {
  await assert.rejects(resolveOptions(o as ClientOptions), (err: unknown) => {
    assert.ok(isJanusError(err, ErrorCode.ConfigInvalid), String(err));
    assert.equal(err.details.key, key);
    return true;
  });
}

describe('reconnect policy', () => {
  const policy = { retries: 10, minDelayMs: 100, maxDelayMs: 2000 };

  it('grows exponentially, clamped to [minDelayMs, maxDelayMs]', () => {
    const mid = (): number => 0.5; // no jitter
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 40].map((a) => reconnectDelay(policy, a, undefined, mid)),
      [100, 200, 400, 800, 1600, 2000, 2000],
    );
  });

  it('jitters by up to 50 % either way, still within bounds', () => {
    assert.equal(reconnectDelay(policy, 3, undefined, () => 0), 200);
    assert.equal(reconnectDelay(policy, 3, undefined, () => 0.999999), 600);
    assert.equal(reconnectDelay(policy, 1, undefined, () => 0), 100);
    assert.equal(reconnectDelay(policy, 6, undefined, () => 0.999999), 2000);
    for (let a = 1; a <= 12; a++) {
      const d = reconnectDelay(policy, a);
      assert.ok(d >= 100 && d <= 2000, `attempt ${a}: ${d}`);
    }
  });

  it('waits maxDelayMs after RateLimited', () => {
    assert.equal(reconnectDelay(policy, 1, SCServerLogout_Code.RateLimited, () => 0), 2000);
  });

  it('treats exactly the codes whose retry cannot help or would fight another party as final', () => {
    const C = SCServerLogout_Code;
    assert.deepEqual(
      [...FINAL_LOGOUT_CODES].sort((a, b) => a - b),
      [C.Unauthorized, C.ConflictingLogin, C.AdminKickOut, C.Banned, C.TokenExpired, C.BadVersion],
    );
    for (const c of [C.Server, C.Waiting, C.ClockSkew, C.RateLimited]) assert.equal(isFinalLogout(c), false);
  });
});

describe('resolveOptions', () => {
  it('applies the defaults and imports the keys', async () => {
    const o = await resolveOptions(BASE);
    assert.equal(o.path, '/ws');
    assert.equal(o.tls, null);
    assert.equal(o.platform, nodePlatform);
    assert.equal(o.encrypted, true);
    assert.equal(o.maxFrameBytes, 65536);
    assert.equal(o.heartbeatIntervalMs, 20_000);
    assert.equal(o.requestTimeoutMs, 10_000);
    assert.equal(o.connectTimeoutMs, 10_000);
    assert.equal(o.compressThreshold, 0);
    assert.equal(o.maxInflateBytes, 1 << 20);
    assert.equal(o.clientCertVersion, 1);
    assert.equal(o.serverCertVersion, 0);
    assert.equal(o.serverId, 0n);
    assert.equal(o.reconnect, null);
    assert.equal(o.crypto.name, 'node');
    assert.ok(o.clientKey);
    assert.deepEqual([...o.serverKeys.keys()], [1]);
    assert.ok(Object.isFrozen(o));
    assert.equal(CLIENT_DEFAULTS.maxInflateBytes, 1 << 20);
  });

  it('needs no keys in plaintext mode', async () => {
    const o = await resolveOptions({ transport: 'ws', host: 'localhost', port: 17002, token: 't', encrypted: false });
    assert.equal(o.clientKey, null);
    assert.equal(o.serverKeys.size, 0);
  });

  it('names the bad key', async () => {
    await configError({ ...BASE, bogus: 1 }, 'bogus');
    await configError({ ...BASE, transport: 'udp' }, 'transport');
    await configError({ ...BASE, port: 0 }, 'port');
    await configError({ ...BASE, token: '' }, 'token');
    await configError({ ...BASE, clientKeyPem: undefined }, 'clientKeyPem');
    await configError({ ...BASE, serverKeys: {} }, 'serverKeys');
    await configError({ ...BASE, serverCertVersion: 2 }, 'serverCertVersion');
    await configError({ ...BASE, serverId: 5 }, 'serverId');
    await configError({ ...BASE, maxFrameBytes: 100 }, 'maxFrameBytes');
    await configError({ ...BASE, maxFrameBytes: 16 * 1024 * 1024 + 1 }, 'maxFrameBytes');
    await configError({ ...BASE, path: 'ws' }, 'path');
    await configError({ ...BASE, tls: 'yes' }, 'tls');
    await configError({ ...BASE, tls: true }, 'tls'); // BASE is tcp: TLS is for wss:// only
    await configError({ ...BASE, heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs');
    await configError({ ...BASE, reconnect: { retries: 1, minDelayMs: 50, maxDelayMs: 10 } }, 'reconnect.maxDelayMs');
    await configError({ ...BASE, reconnect: { retries: 1, minDelayMs: 5, maxDelayMs: 10, jitter: true } }, 'reconnect.jitter');
    await configError({ ...BASE, tls: true }, 'tls');
    const ws: ClientOptions = { ...BASE, transport: 'ws' };
    await configError({ ...ws, tls: 'yes' }, 'tls');
    await configError({ ...ws, tls: { ca: 42 } }, 'tls.ca');
    await configError({ ...ws, tls: { ca: [] } }, 'tls.ca');
    await configError({ ...ws, tls: { rejectUnauthorized: 'no' } }, 'tls.rejectUnauthorized');
    await configError({ ...ws, tls: { servername: '' } }, 'tls.servername');
    await configError({ ...ws, tls: { cert: 'x' } }, 'tls.cert');
  });

  it('takes tls for wss:// (ws only): true, or ca / rejectUnauthorized / servername passed through', async () => {
    assert.equal((await resolveOptions(BASE)).tls, null);
    const ws: ClientOptions = { ...BASE, transport: 'ws' };
    assert.equal((await resolveOptions({ ...ws, tls: false })).tls, null);
    assert.deepEqual((await resolveOptions({ ...ws, tls: true })).tls, {});
    const ca = '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n';
    const o = await resolveOptions({ ...ws, tls: { ca: [ca, Buffer.from(ca)], rejectUnauthorized: false, servername: 'gate.example.com' } });
    assert.deepEqual(o.tls, { ca: [ca, Buffer.from(ca)], rejectUnauthorized: false, servername: 'gate.example.com' });
    assert.ok(Object.isFrozen(o.tls));
  });

  it("refuses transport 'tcp' on the browser platform, naming the key and the way out", async () => {
    await assert.rejects(resolveWith(BASE, browserPlatform), (err: unknown) => {
      assert.ok(isJanusError(err, ErrorCode.ConfigInvalid));
      assert.equal(err.details.key, 'transport');
      assert.match(err.message, /not available in browser \(use 'ws'\)/);
      return true;
    });
    const o = await resolveWith({ ...BASE, transport: 'ws', tls: true, crypto: undefined }, browserPlatform);
    assert.deepEqual(o.tls, {});
    await assert.rejects(resolveWith({ ...BASE, transport: 'ws', tls: { rejectUnauthorized: false }, crypto: undefined }, browserPlatform), (err: unknown) => {
      assert.ok(isJanusError(err, ErrorCode.ConfigInvalid));
      assert.equal(err.details.key, 'tls');
      assert.match(err.message, /TLS options apply in Node only; in browser use tls: true/);
      return true;
    });
    // Node 20's WebCrypto has Ed25519 and X25519, so the browser platform picks it here.
    assert.equal(o.crypto.name, 'webcrypto');
  });

  it('refuses a PEM that does not load', async () => {
    await assert.rejects(resolveOptions({ ...BASE, clientKeyPem: 'not a pem' }), (err: unknown) => isJanusError(err, ErrorCode.KeyInvalid));
  });
});

for (const [name, inflate, deflate] of [
  ['node:zlib', inflateLimited, deflateData],
  ['CompressionStream', inflateWeb, deflateWeb],
] as const) {
  describe(`bounded inflate (${name})`, () => {
    it('inflates zlib data within the limit', async () => {
      const data = new Uint8Array(5000).fill(3);
      assert.deepEqual(new Uint8Array(await inflate(deflateSync(data), 5000)), data);
    });

    it('stops past the limit with JANUS_ERR_INFLATE', async () => {
      await assert.rejects(inflate(deflateSync(new Uint8Array(5001)), 5000), (err: unknown) => {
        assert.ok(isJanusError(err, ErrorCode.InflateLimit));
        assert.equal(err.details.maxInflateBytes, 5000);
        return true;
      });
    });

    it('stops a bomb early: 64 MiB of zeros under a 1 MiB limit', async () => {
      const bomb = deflateSync(new Uint8Array(64 << 20), { level: 9 });
      await assert.rejects(inflate(bomb, 1 << 20), (err: unknown) => isJanusError(err, ErrorCode.InflateLimit));
    });

    it('refuses data that is not zlib', async () => {
      await assert.rejects(inflate(new Uint8Array([1, 2, 3, 4]), 5000), (err: unknown) => isJanusError(err, ErrorCode.InflateLimit));
    });

    it('deflates into zlib (RFC 1950) that node:zlib inflates', async () => {
      const data = new TextEncoder().encode('compressible '.repeat(400));
      const z = await deflate(data);
      assert.equal(z[0], 0x78, 'zlib header');
      assert.ok(z.length < data.length);
      assert.deepEqual(new Uint8Array(inflateSync(z)), data);
    });
  });
}

describe('the two entries', () => {
  it('export the same names: one API for Node and browsers', async () => {
    const node = Object.keys(await import('../src/index.js')).sort();
    const browser = Object.keys(await import('../src/browser.js')).sort();
    assert.deepEqual(browser, node);
    for (const name of ['JanusClient', 'JanusClientBase', 'defaultCrypto', 'loadNobleCrypto', 'WS_SUBPROTOCOL', 'JanusError']) assert.ok(node.includes(name), name);
  });
});

describe('wsUrl', () => {
  it('brackets IPv6 literals', () => {
    assert.equal(wsUrl('127.0.0.1', 17002, '/ws'), 'ws://127.0.0.1:17002/ws');
    assert.equal(wsUrl('::1', 17002, '/ws'), 'ws://[::1]:17002/ws');
    assert.equal(wsUrl('[::1]', 1, '/x'), 'ws://[::1]:1/x');
    assert.equal(wsUrl('gate.example.com', 443, '/ws', true), 'wss://gate.example.com:443/ws');
  });

  it('says wss:// when secure', () => {
    assert.equal(wsUrl('gate.example.com', 443, '/ws', true), 'wss://gate.example.com:443/ws');
    assert.equal(wsUrl('::1', 17002, '/ws', true), 'wss://[::1]:17002/ws');
  });
});
