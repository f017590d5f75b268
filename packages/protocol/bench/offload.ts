/**
 * The ways to run the server side of a handshake, side by side (decision 0008):
 * handshakes per second, CPU of the main thread and of the whole process per handshake.
 *
 *   node packages/protocol/dist/bench/offload.js [--handshakes 3000] [--concurrency 50] [--only a,b]
 *
 * Styles: the same server computation (Ed25519 verify, X25519 generate and derive, SHA-256,
 * Ed25519 sign, HKDF) with
 *   sync-der      node:crypto, raw X25519 keys through SPKI DER (the node back end before 0008)
 *   sync-jwk      node:crypto, raw X25519 keys through JWK (the node back end now)
 *   libuv         the async forms of node:crypto (verify, sign, generateKeyPair in the libuv
 *                 thread pool); X25519 derive and HKDF stay synchronous (Node 20 has no async derive)
 *   webcrypto     crypto.subtle for every primitive
 *   worker-whole  one worker_threads round trip doing the whole computation
 *   pool          CryptoPool, every job on its worker (inlineShare 0): one trip per primitive
 *   pool-default  CryptoPool with its default inline budget
 * `concurrency` handshakes are in flight at once. Main-thread CPU comes from
 * /proc/self/task/<pid>/schedstat (Linux only; elsewhere it prints `?`).
 */
import { createHash, createPublicKey, diffieHellman, generateKeyPair, generateKeyPairSync, hkdfSync, randomBytes, sign, verify, webcrypto, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkClientHello, createClientHello, createServerHello, decodeClientHello, type ServerHandshakeConfig } from '../src/index.js';
import { CryptoPool, nodeCrypto } from '../src/node.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const HANDSHAKES = Number(arg('handshakes', '3000'));
const CONCURRENCY = Number(arg('concurrency', '50'));

/** CPU time of the main thread so far (ns), or NaN where /proc is missing. */
function mainThreadNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

const client = generateKeyPairSync('ed25519');
const server = generateKeyPairSync('ed25519');
const peer = generateKeyPairSync('x25519');
const peerRaw = Buffer.from(peer.publicKey.export({ format: 'jwk' }).x!, 'base64url');
const SPKI_PREFIX = Buffer.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00]);
const message = randomBytes(74);
const signature = sign(null, message, client.privateKey);
const INFO = Buffer.from('janus/v1 session keys');
const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const jwkPublic = (raw: Uint8Array): KeyObject => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
const cb = <T>(f: (done: (err: Error | null, v: T) => void) => void): Promise<T> => new Promise((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v))));

const subtle = webcrypto.subtle;
const subtleVerify = await subtle.importKey('spki', client.publicKey.export({ type: 'spki', format: 'der' }), 'Ed25519', false, ['verify']);
const subtleSign = await subtle.importKey('pkcs8', server.privateKey.export({ type: 'pkcs8', format: 'der' }), 'Ed25519', false, ['sign']);

const WORKER_SOURCE = `
const c = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const vk = c.createPublicKey({ key: Buffer.from(workerData.vk), format: 'der', type: 'spki' });
const sk = c.createPrivateKey({ key: Buffer.from(workerData.sk), format: 'der', type: 'pkcs8' });
const sha = (b) => c.createHash('sha256').update(b).digest();
const info = Buffer.from('janus/v1 session keys');
parentPort.on('message', (m) => {
  if (!c.verify(null, m.message, vk, m.signature)) return parentPort.postMessage({ id: m.id, ok: false });
  const k = c.generateKeyPairSync('x25519');
  const pub = Buffer.from(k.publicKey.export({ format: 'jwk' }).x, 'base64url');
  const pk = c.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(m.peer).toString('base64url') }, format: 'jwk' });
  const shared = c.diffieHellman({ privateKey: k.privateKey, publicKey: pk });
  const s = c.sign(null, Buffer.concat([sha(m.message), pub]), sk);
  const okm = c.hkdfSync('sha256', shared, sha(Buffer.concat([m.peer, pub])), info, 88);
  parentPort.postMessage({ id: m.id, ok: true, pub, s, okm: new Uint8Array(okm) });
});`;
const worker = new Worker(WORKER_SOURCE, {
  eval: true,
  workerData: { vk: client.publicKey.export({ type: 'spki', format: 'der' }), sk: server.privateKey.export({ type: 'pkcs8', format: 'der' }) },
});
worker.unref();
const waiting = new Map<number, () => void>();
let nextId = 0;
worker.on('message', (m: { id: number }) => {
  const w = waiting.get(m.id);
  waiting.delete(m.id);
  w?.();
});

// The real handshake code with a CryptoPool as its back end.
const NOW = Math.floor(Date.now() / 1000);
const pem = (k: { privateKey: KeyObject; publicKey: KeyObject }): { priv: string; pub: string } => ({
  priv: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  pub: k.publicKey.export({ type: 'spki', format: 'pem' }) as string,
});
const clientPem = pem(client);
const serverPem = pem(server);
const hello = await createClientHello({ crypto: nodeCrypto, clientKey: nodeCrypto.importSigningKey(clientPem.priv), certVersion: 1, serverId: 0n, serverCertVersion: 0, timestamp: BigInt(NOW) });
function poolHandshake(pool: CryptoPool): () => Promise<unknown> {
  const cfg: ServerHandshakeConfig = {
    crypto: pool,
    encrypted: true,
    clientKeys: new Map([[1, nodeCrypto.importVerifyKey(clientPem.pub)]]),
    serverKeys: new Map([[1, nodeCrypto.importSigningKey(serverPem.priv)]]),
    handshakeSkew: 300,
  };
  return async () => {
    const hs = decodeClientHello(hello.body);
    if ((await checkClientHello(cfg, hs, NOW)) !== null) throw new Error('the bench ClientHello must pass');
    return createServerHello(cfg, { csBody: hello.body, hs, timestamp: BigInt(NOW) });
  };
}
const pools = [new CryptoPool({ inlineShare: 0, inlineBurstMs: 0 }), new CryptoPool()];

const styles: Record<string, () => Promise<unknown>> = {
  'sync-der': async () => {
    if (!verify(null, message, client.publicKey, signature)) throw new Error('verify');
    const k = generateKeyPairSync('x25519');
    const pub = k.publicKey.export({ type: 'spki', format: 'der' }).subarray(12);
    const pk = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerRaw]), format: 'der', type: 'spki' });
    const shared = diffieHellman({ privateKey: k.privateKey, publicKey: pk });
    sign(null, Buffer.concat([sha(message), pub]), server.privateKey);
    return hkdfSync('sha256', shared, sha(Buffer.concat([peerRaw, pub])), INFO, 88);
  },
  'sync-jwk': async () => {
    if (!verify(null, message, client.publicKey, signature)) throw new Error('verify');
    const k = generateKeyPairSync('x25519');
    const pub = Buffer.from(k.publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const shared = diffieHellman({ privateKey: k.privateKey, publicKey: jwkPublic(peerRaw) });
    sign(null, Buffer.concat([sha(message), pub]), server.privateKey);
    return hkdfSync('sha256', shared, sha(Buffer.concat([peerRaw, pub])), INFO, 88);
  },
  libuv: async () => {
    if (!(await cb<boolean>((d) => verify(null, message, client.publicKey, signature, d)))) throw new Error('verify');
    const k = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
      generateKeyPair('x25519', {}, (e: Error | null, publicKey: KeyObject, privateKey: KeyObject) => (e ? reject(e) : resolve({ publicKey, privateKey }))),
    );
    const pub = Buffer.from(k.publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const shared = diffieHellman({ privateKey: k.privateKey, publicKey: jwkPublic(peerRaw) });
    await cb<Buffer>((d) => sign(null, Buffer.concat([sha(message), pub]), server.privateKey, d));
    return hkdfSync('sha256', shared, sha(Buffer.concat([peerRaw, pub])), INFO, 88);
  },
  webcrypto: async () => {
    if (!(await subtle.verify('Ed25519', subtleVerify, signature, message))) throw new Error('verify');
    const k = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as webcrypto.CryptoKeyPair;
    const pub = Buffer.from(await subtle.exportKey('raw', k.publicKey));
    const pk = await subtle.importKey('raw', peerRaw, { name: 'X25519' }, false, []);
    const shared = Buffer.from(await subtle.deriveBits({ name: 'X25519', public: pk } as webcrypto.EcdhKeyDeriveParams, k.privateKey, 256));
    await subtle.sign('Ed25519', subtleSign, Buffer.concat([sha(message), pub]));
    return hkdfSync('sha256', shared, sha(Buffer.concat([peerRaw, pub])), INFO, 88);
  },
  'worker-whole': () =>
    new Promise<void>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      worker.postMessage({ id, message, signature, peer: peerRaw });
    }),
  pool: poolHandshake(pools[0]!),
  'pool-default': poolHandshake(pools[1]!),
};

async function run(name: string): Promise<void> {
  const fn = styles[name]!;
  if (name === 'worker-whole') worker.ref();
  for (let i = 0; i < 200; i++) await fn();
  const m0 = mainThreadNs();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < HANDSHAKES) await fn();
    }),
  );
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const main = (mainThreadNs() - m0) / 1000 / HANDSHAKES;
  if (name === 'worker-whole') worker.unref();
  const f = (v: number): string => (Number.isNaN(v) ? '?' : v.toFixed(0));
  console.log(`| ${name} | ${f((HANDSHAKES / wallMs) * 1000)} | ${f(main)} | ${f((c.user + c.system) / HANDSHAKES)} |`);
}

console.log(`# server handshake computation, ${HANDSHAKES} handshakes, ${CONCURRENCY} in flight`);
console.log(`node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? '?'})\n`);
console.log('| style | handshakes/s | main thread CPU (us/handshake) | process CPU, all threads (us/handshake) |');
console.log('| --- | ---: | ---: | ---: |');
const only = arg('only', '');
for (const name of Object.keys(styles)) if (!only || only.split(',').includes(name)) await run(name);
await Promise.all(pools.map((p) => p.close()));
await worker.terminate();
