/**
 * Browser side of test/browser.test.ts: bundled with the SDK's browser entry and run inside
 * headless Chromium, never in Node. It drives one session of the vector transcript
 * (shared/vectors/v1.json) through the SDK's public API against the scripted gateway of the
 * test: the SDK's own handshake, records, index numbering, heartbeat, push and inflate
 * paths, with the crypto back end the SDK picks itself (`defaultCrypto()`). Only the
 * ephemeral X25519 pair and the clock are pinned to the vectors' values, through the public
 * `crypto` and `now` options. It asserts nothing: it reports, and Node compares.
 */
import { defaultCrypto, JanusClient, type ClientOptions, type CloseReason, type CryptoBackend, type Packet } from '../../src/browser.js';

/** What the test passes in. */
export interface VectorSessionInput {
  port: number;
  token: string;
  clientKeyPem: string;
  serverPubPem: string;
  serverId: string;
  serverCertVersion: number;
  clientTimestamp: number;
  /** CSHeartbeat.client_time of the vector heartbeat (unix seconds). */
  heartbeatClientTime: number;
  clientEphemeralPkcs8Hex: string;
  /** Data of the vector's compressed request (inflated), hex. */
  compressedRequestHex: string;
  /** The client's maxFrameBytes, default 65536. */
  maxFrameBytes?: number;
}

/** A Packet as plain strings. */
export interface PacketReport {
  mod: number;
  seq: number;
  obj: string;
  index: number;
  dataHex: string;
}

/** What the page reports. */
export interface VectorSessionReport {
  bufferType: string;
  processType: string;
  cryptoName: string;
  cryptoSynchronous: boolean;
  session: Record<string, string>;
  heartbeat: { serverTime: string; code: number; rttMs: number };
  replies: PacketReport[];
  pushes: PacketReport[];
  states: string[];
  closeReason: string;
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const report = (p: Packet): PacketReport => ({ mod: p.mod, seq: p.seq, obj: String(p.obj), index: p.index, dataHex: hex(p.data) });

/** The back end the SDK picked, with its X25519 generation pinned to the vector's pair. */
async function pinnedEphemeral(base: CryptoBackend, pkcs8: Uint8Array): Promise<CryptoBackend> {
  const pair = await base.x25519FromPkcs8(pkcs8);
  return { ...base, x25519Generate: () => (base.synchronous ? pair : Promise.resolve(pair)) } as CryptoBackend;
}

/** The vector session's options (pinned ephemeral key, clock read from `clock`). */
async function vectorOptions(i: VectorSessionInput, clock: { now: number }): Promise<ClientOptions> {
  const base = await defaultCrypto();
  return {
    transport: 'ws',
    host: '127.0.0.1',
    port: i.port,
    token: i.token,
    clientKeyPem: i.clientKeyPem,
    serverKeys: { [i.serverCertVersion]: i.serverPubPem },
    serverCertVersion: i.serverCertVersion,
    serverId: BigInt(i.serverId),
    crypto: await pinnedEphemeral(base, unhex(i.clientEphemeralPkcs8Hex)),
    now: () => clock.now,
    compressThreshold: 32,
    heartbeatIntervalMs: 59_999,
    maxFrameBytes: i.maxFrameBytes ?? 65536,
  };
}

async function runVectorSession(i: VectorSessionInput): Promise<VectorSessionReport> {
  const clock = { now: i.clientTimestamp };
  const o = await vectorOptions(i, clock);
  const client = await JanusClient.connect(o);
  const pushes: PacketReport[] = [];
  const states: string[] = [];
  client.on('push', (p) => pushes.push(report(p)));
  client.on('state', (s) => states.push(s.state));
  const s = client.session;
  const session = { uid: String(s.uid), sid: String(s.sid), color: s.color, serverTime: String(s.serverTime), startIndex: String(s.startIndex) };
  clock.now = i.heartbeatClientTime;
  const hb = await client.heartbeat();
  const enc = new TextEncoder();
  const replies = [
    report(await client.request(3, 1, enc.encode('hello player'))),
    report(await client.request(4, 1, enc.encode('negative obj'), { obj: -42n, dataVersion: 9n, ver: 2 })),
    report(await client.request(7, 3, unhex(i.compressedRequestHex))),
  ];
  const closed = new Promise<string>((resolve) => client.once('close', (r) => resolve(JSON.stringify(r))));
  await client.close();
  return {
    bufferType: typeof (globalThis as { Buffer?: unknown }).Buffer,
    processType: typeof (globalThis as { process?: unknown }).process,
    cryptoName: client.cryptoName,
    cryptoSynchronous: (await defaultCrypto()).synchronous,
    session,
    heartbeat: { serverTime: String(hb.serverTime), code: hb.code, rttMs: hb.rttMs },
    replies,
    pushes,
    states,
    closeReason: await closed,
  };
}

/** Logs in like the vector session, then waits for the client's `'close'`; reports its reason and the state. */
async function runUntilClose(i: VectorSessionInput): Promise<{ kind: string; code: string | null; wsCode: number | null; state: string }> {
  const client = await JanusClient.connect(await vectorOptions(i, { now: i.clientTimestamp }));
  const reason = await new Promise<CloseReason>((resolve) => client.once('close', resolve));
  return {
    kind: reason.kind,
    code: reason.kind === 'closed' ? (reason.error?.code ?? null) : null,
    wsCode: reason.kind === 'closed' ? (reason.wsCode ?? null) : null,
    state: client.state,
  };
}

Object.assign(globalThis, { runVectorSession, runUntilClose });
