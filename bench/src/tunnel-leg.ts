/**
 * The gRPC leg alone (docs/benchmarks.md "Tunnel client"): N player tunnels to the demo
 * backend (its own process), each a closed loop of Player Echo TunnelRequests, driven by
 * one of three tunnel clients in this process, which measures its own CPU per message:
 *
 *   grpc-js          grpc-js bidi streams (the gateway's client before decision 0009), retries on (grpc-js default)
 *   grpc-js-noretry  the same with grpc.enable_retries 0 (what the gateway sets)
 *   janus            the gateway's own tunnel client (ChannelPool: gRPC on node:http2)
 *
 *   npm run bench:tunnel -- [--streams 1000] [--duration 10] [--warmup 3] [--client all|grpc-js|grpc-js-noretry|janus]
 *
 * Both clients spread the streams over 2 HTTP/2 connections (tunnel.channelsPerInstance).
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { serializeTunnelMessage, tunnelMetadata } from '@janus/backend';
import { DemoModule, PlayerSeq } from '@janus/demo-backend';
import { decodeTunnelMessageAsPacket, makeTunnelMessage, TUNNEL_PATHS, type Packet, type TunnelMessage } from '@janus/protocol';
import { ChannelPool, type Tunnel, type TunnelListener } from '@janus/gateway';
import { BenchChild } from './child.js';

type ClientKind = 'grpc-js' | 'grpc-js-noretry' | 'janus';
const CONNECTIONS = 2;

interface Stream {
  send(m: TunnelMessage): void;
  close(): void;
}

type OnReply = (p: Packet) => void;

function metadataFields(uid: bigint) {
  return { oid: uid, uid, sid: 1n, status: 0, color: '', clientIp: '127.0.0.1', referer: 'janus.gate.interface', gateReferer: '127.0.0.1:19100#1' };
}

function grpcStreams(port: number, retries: boolean): { open(uid: bigint, onReply: OnReply): Stream; close(): void } {
  const clients = Array.from(
    { length: CONNECTIONS },
    () =>
      new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        ...(retries ? {} : { 'grpc.enable_retries': 0 }),
      }),
  );
  let next = 0;
  return {
    open(uid, onReply) {
      const c = clients[next++ % CONNECTIONS]!;
      const call = c.makeBidiStreamRequest<TunnelMessage, Packet>(TUNNEL_PATHS.player, serializeTunnelMessage, decodeTunnelMessageAsPacket, tunnelMetadata(metadataFields(uid)));
      call.on('data', onReply);
      call.on('error', () => {});
      return { send: (m) => void call.write(m), close: () => call.end() };
    },
    close: () => clients.forEach((c) => c.close()),
  };
}

function janusStreams(port: number): { open(uid: bigint, onReply: OnReply): Stream; close(): void } {
  const pool = new ChannelPool(CONNECTIONS, 3000, 1000, 1 << 20, { keepaliveMs: 330000, keepaliveTimeoutMs: 20000 });
  const route = { name: 'player', path: TUNNEL_PATHS.player, discoveryName: 'roma.player.service', isPlayer: true };
  return {
    open(uid, onReply) {
      let tunnel: Tunnel | null = null;
      const queued: TunnelMessage[] = [];
      const listener: TunnelListener = { onMessage: (_t, p) => onReply(p), onTooLarge() {}, onEnd() {}, onDrain() {} };
      const { referer: _r, ...md } = metadataFields(uid);
      void pool.open(`127.0.0.1:${port}`, route, md, listener).then((t) => {
        tunnel = t;
        for (const m of queued.splice(0)) t.write(m);
      });
      return {
        send(m) {
          if (tunnel) tunnel.write(m);
          else queued.push(m);
        },
        close: () => tunnel?.end(),
      };
    },
    close: () => pool.close(),
  };
}

/** What one client measured. */
export interface LegResult {
  client: ClientKind;
  streams: number;
  msgsPerSec: number;
  /** This process's CPU (user + system) per round trip (µs). */
  cpuUsPerMsg: number;
  /** Backend child CPU per round trip (µs). */
  backendCpuUsPerMsg: number;
}

async function runOne(kind: ClientKind, port: number, backend: BenchChild, streams: number, warmupS: number, durationS: number): Promise<LegResult> {
  const factory = kind === 'janus' ? janusStreams(port) : grpcStreams(port, kind === 'grpc-js');
  const data = new Uint8Array(64).fill(7);
  let replies = 0;
  let running = true;
  const open: Stream[] = [];
  for (let i = 0; i < streams; i++) {
    const uid = BigInt(i + 1);
    let index = 1;
    const req = (): TunnelMessage => makeTunnelMessage({ mod: DemoModule.Player, seq: PlayerSeq.Echo, obj: uid, index: index++, data });
    const s: Stream = factory.open(uid, () => {
      replies++;
      if (running) s.send(req());
    });
    open.push(s);
    s.send(req());
  }
  await new Promise((r) => setTimeout(r, warmupS * 1000));
  const r0 = replies;
  const c0 = process.cpuUsage();
  const b0 = await backend.usage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const n = replies - r0;
  const c1 = process.cpuUsage(c0);
  const b1 = await backend.usage();
  const wallS = (performance.now() - t0) / 1000;
  running = false;
  for (const s of open) s.close();
  factory.close();
  const bcpu = b1.cpu.user - b0.cpu.user + (b1.cpu.system - b0.cpu.system);
  return { client: kind, streams, msgsPerSec: n / wallS, cpuUsPerMsg: (c1.user + c1.system) / n, backendCpuUsPerMsg: bcpu / n };
}

async function main(): Promise<void> {
  const arg = (name: string, def: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1]! : def;
  };
  const streams = Number(arg('streams', '1000'));
  const durationS = Number(arg('duration', '10'));
  const warmupS = Number(arg('warmup', '3'));
  const which = arg('client', 'all');
  const kinds: ClientKind[] = which === 'all' ? ['grpc-js', 'grpc-js-noretry', 'janus'] : [which as ClientKind];
  const backend = await BenchChild.start({ name: 'backend', script: new URL('./backend-proc.js', import.meta.url) });
  try {
    console.log('| client | streams | round trips/s | client CPU µs/msg | backend CPU µs/msg |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const k of kinds) {
      const r = await runOne(k, backend.ports.grpc!, backend, streams, warmupS, durationS);
      console.log(`| ${r.client} | ${r.streams} | ${Math.round(r.msgsPerSec)} | ${r.cpuUsPerMsg.toFixed(1)} | ${r.backendCpuUsPerMsg.toFixed(1)} |`);
    }
  } finally {
    await backend.stop(15000);
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`tunnel-leg: ${(err as Error).message}`);
    process.exit(1);
  },
);
