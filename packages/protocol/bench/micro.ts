/**
 * Microbenchmarks of the protocol's hot modules (docs/benchmarks.md): frame decoding, the
 * hand-written Packet and TunnelRequest codecs next to the generated ones, AEAD records, and
 * the gateway's side of a handshake.
 *
 * Run: `npm run bench:micro` (tsc -b, then node packages/protocol/dist/bench/micro.js).
 * Options: `--time <ms>` per task (default 700).
 *
 * Method: tinybench times each call of a task. Calls far below a microsecond are dominated by
 * the timer's own cost, so such tasks loop `batch` times per call and every figure is divided
 * by `batch`: "mean" is then exact per operation, "p99" is the 99th percentile of the batch
 * means (a smoothed tail). Tasks with batch 1 report true per-operation percentiles.
 */
import { generateKeyPairSync } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Bench } from 'tinybench';
import {
  checkClientHello,
  concatBytes,
  createClientHello,
  createServerHello,
  decodeClientHello,
  decodePacket,
  decodeTunnelMessage,
  encodeFrame,
  encodePacket,
  encodeTunnelMessage,
  FrameDecoder,
  GeneratedPacketSchema,
  makePacket,
  PlayerTunnelRequestSchema,
  RecordOpener,
  RecordSealer,
  setRecordCount,
  webCrypto,
  type AeadKey,
  type ServerHandshakeConfig,
  type TunnelMessage,
} from '../src/index.js';
import { nodeCrypto } from '../src/node.js';

interface Row {
  name: string;
  /** Operations per task call. */
  batch: number;
  /** Bytes one operation handles (for MiB/s), or 0. */
  bytes: number;
  /** What one operation is, for the table. */
  unit: string;
}

const timeArg = process.argv.indexOf('--time');
const TIME_MS = timeArg > 0 ? Number(process.argv[timeArg + 1]) : 700;
const bench = new Bench({ name: 'janus protocol microbenchmarks', time: TIME_MS, warmupTime: 200, throws: true });
const rows: Row[] = [];
let sink = 0;

function add(row: Row, fn: () => unknown): void {
  rows.push(row);
  const { batch } = row;
  bench.add(row.name, batch === 1 ? fn : () => {
    for (let i = 0; i < batch; i++) fn();
  }, { async: false });
}

function addAsync(row: Row, fn: () => Promise<unknown>): void {
  rows.push(row);
  bench.add(row.name, fn, { async: true });
}

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);

// ---- framing ----------------------------------------------------------------------------

const FRAME_BODY = 64;
const frame = encodeFrame(pattern(FRAME_BODY));
const framesPerChunk = Math.floor(65536 / frame.length);
const stream = concatBytes(...Array.from({ length: framesPerChunk }, () => frame));
const decoder = new FrameDecoder(65536, (body) => {
  sink += body.length;
});
add({ name: `frame decode: ${framesPerChunk} x 64 B frames in one 64 KiB chunk`, batch: 1, bytes: stream.length, unit: 'chunk' }, () =>
  decoder.push(stream),
);
const mtuReads: Uint8Array[] = [];
for (let at = 0; at < stream.length; at += 1460) mtuReads.push(stream.subarray(at, at + 1460));
add({ name: 'frame decode: the same stream in 1460 B reads (frames split)', batch: 1, bytes: stream.length, unit: 'chunk' }, () => {
  for (const r of mtuReads) decoder.push(r);
});
const halves = [frame.subarray(0, 30), frame.subarray(30)];
add({ name: 'frame decode: one 64 B frame split in two reads', batch: 100, bytes: frame.length, unit: 'frame' }, () => {
  decoder.push(halves[0]!);
  decoder.push(halves[1]!);
});

// ---- Packet and TunnelRequest codecs ------------------------------------------------------

const packet = makePacket({ data: pattern(64), mod: 3, seq: 12, index: 1_234_567, obj: 10_001n, dataVersion: 7n });
const packetBytes = encodePacket(packet);
const generatedPacket = create(GeneratedPacketSchema, packet);
add({ name: 'Packet encode, 64 B data (hand-written)', batch: 200, bytes: 0, unit: 'Packet' }, () => {
  sink += encodePacket(packet).length;
});
add({ name: 'Packet encode, 64 B data (generated toBinary)', batch: 200, bytes: 0, unit: 'Packet' }, () => {
  sink += toBinary(GeneratedPacketSchema, generatedPacket).length;
});
add({ name: 'Packet decode, 64 B data (hand-written)', batch: 200, bytes: 0, unit: 'Packet' }, () => {
  sink += decodePacket(packetBytes).seq;
});
add({ name: 'Packet decode, 64 B data (generated fromBinary)', batch: 200, bytes: 0, unit: 'Packet' }, () => {
  sink += fromBinary(GeneratedPacketSchema, packetBytes).seq;
});

const { compress: _compress, ...tunnelFields } = packet;
const tunnelMsg: TunnelMessage = tunnelFields;
const tunnelBytes = encodeTunnelMessage(tunnelMsg);
const generatedTunnel = create(PlayerTunnelRequestSchema, tunnelMsg);
add({ name: 'TunnelRequest encode, 64 B data (hand-written)', batch: 200, bytes: 0, unit: 'message' }, () => {
  sink += encodeTunnelMessage(tunnelMsg).length;
});
add({ name: 'TunnelRequest encode, 64 B data (generated toBinary)', batch: 200, bytes: 0, unit: 'message' }, () => {
  sink += toBinary(PlayerTunnelRequestSchema, generatedTunnel).length;
});
add({ name: 'TunnelRequest decode, 64 B data (hand-written)', batch: 200, bytes: 0, unit: 'message' }, () => {
  sink += decodeTunnelMessage(tunnelBytes).seq;
});
add({ name: 'TunnelRequest decode, 64 B data (generated fromBinary)', batch: 200, bytes: 0, unit: 'message' }, () => {
  sink += fromBinary(PlayerTunnelRequestSchema, tunnelBytes).seq;
});

// ---- records ----------------------------------------------------------------------------

const recordKey = nodeCrypto.randomBytes(32);
const recordIv = nodeCrypto.randomBytes(12);
const nodeAead = nodeCrypto.aeadKey(recordKey);
// The same key without the record path (AeadKey.records): a node:crypto cipher object per record.
const cipherPerRecord: AeadKey<true> = { seal: (n, a, p) => nodeAead.seal(n, a, p), open: (n, a, s) => nodeAead.open(n, a, s) };
for (const [label, size, batch] of [
  ['64 B', 64, 20],
  ['1 KiB', 1024, 10],
  ['16 KiB', 16384, 1],
] as const) {
  const plain = pattern(size);
  for (const [path, aead] of [
    ['node back end', nodeAead],
    ['node:crypto cipher per record', cipherPerRecord],
  ] as const) {
    const sealer = new RecordSealer(aead, recordIv);
    const opener = new RecordOpener(aead, recordIv);
    // A stream of records to open in order (the counter and any keystream made ahead advance as in a session).
    const streamSealer = new RecordSealer(aead, recordIv);
    const stream = Array.from({ length: 256 }, () => streamSealer.seal(plain));
    let next = 0;
    add({ name: `record seal ${label} (${path})`, batch, bytes: size, unit: 'record' }, () => {
      sink += sealer.seal(plain).length;
    });
    add({ name: `record open ${label} (${path})`, batch, bytes: size, unit: 'record' }, () => {
      if (next === stream.length) {
        next = 0;
        setRecordCount(opener, 0);
      }
      sink += opener.open(stream[next++]!).length;
    });
  }
}
const webSealer = new RecordSealer(await webCrypto.aeadKey(recordKey), recordIv);
const plain1k = pattern(1024);
addAsync({ name: 'record seal 1 KiB (WebCrypto)', batch: 1, bytes: 1024, unit: 'record' }, async () => {
  sink += (await webSealer.seal(plain1k)).length;
});

// ---- handshake, the gateway's side ---------------------------------------------------------

function ed25519Pem(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { priv: privateKey, pub: publicKey };
}
const clientPem = ed25519Pem();
const serverPem = ed25519Pem();
const NOW = Math.floor(Date.now() / 1000);
const serverCfg: ServerHandshakeConfig = {
  crypto: nodeCrypto,
  encrypted: true,
  clientKeys: new Map([[1, nodeCrypto.importVerifyKey(clientPem.pub)]]),
  serverKeys: new Map([[1, nodeCrypto.importSigningKey(serverPem.priv)]]),
  handshakeSkew: 300,
};
const hello = await createClientHello({
  crypto: nodeCrypto,
  clientKey: nodeCrypto.importSigningKey(clientPem.priv),
  certVersion: 1,
  serverId: 0n,
  serverCertVersion: 0,
  timestamp: BigInt(NOW),
});
addAsync({ name: 'handshake, server side (decode + check + createServerHello, node:crypto)', batch: 1, bytes: 0, unit: 'handshake' }, async () => {
  const hs = decodeClientHello(hello.body);
  if ((await checkClientHello(serverCfg, hs, NOW)) !== null) throw new Error('the benchmark ClientHello must pass');
  sink += (await createServerHello(serverCfg, { csBody: hello.body, hs, timestamp: BigInt(NOW) })).body.length;
});

// ---- run and print ------------------------------------------------------------------------

const loadBefore = loadavg()[0]!;
const started = performance.now();
await bench.run();
const seconds = (performance.now() - started) / 1000;

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(`# ${bench.name}`);
console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'})`);
console.log(`${TIME_MS} ms per task, ${fmt(seconds, 1)} s in all; 1-minute load average ${fmt(loadBefore, 2)} before, ${fmt(loadavg()[0]!, 2)} after\n`);
console.log('| task | ops/s | mean (ns/op) | p99 (ns/op) | MiB/s | batch | samples |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [i, task] of bench.tasks.entries()) {
  const row = rows[i]!;
  const r = task.result;
  if (r.state !== 'completed') {
    console.log(`| ${row.name} | ${r.state} | | | | | |`);
    continue;
  }
  const meanNs = (r.latency.mean * 1e6) / row.batch;
  const p99Ns = (r.latency.p99 * 1e6) / row.batch;
  const opsPerS = 1e9 / meanNs;
  const mibPerS = row.bytes ? fmt((opsPerS * row.bytes) / 2 ** 20) : '';
  console.log(`| ${row.name} | ${fmt(opsPerS)} ${row.unit}/s | ${fmt(meanNs)} | ${fmt(p99Ns)} | ${mibPerS} | ${row.batch} | ${r.latency.samplesCount} |`);
}
console.log(`\n(64 KiB chunk = ${framesPerChunk} frames of 68 B; frames/s = chunk/s x ${framesPerChunk}. sink ${sink > 0 ? 'ok' : 'empty'})`);
