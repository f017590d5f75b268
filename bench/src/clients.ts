/**
 * The load generator's clients: N sessions opened a few at a time, then each driven in a
 * closed loop of Player Echo requests (mod 3 seq 1, docs/demo.md): the next request goes
 * out as soon as the previous reply arrives, so the offered load follows the system's
 * speed and the latency is the full round trip client -> gateway -> backend -> client.
 */
import { performance } from 'node:perf_hooks';
import { JanusClient, isJanusError } from '@janus/client';
import { DemoModule, PlayerSeq } from '@janus/demo-backend';
import type { BenchKeys } from './keys.js';
import { LatencyHistogram } from './histogram.js';

/** Where and how the clients connect. */
export interface ClientPoolOptions {
  transport: 'tcp' | 'ws';
  host: string;
  port: number;
  keys: BenchKeys;
  /** Sessions to open. */
  connections: number;
  /** Connects in flight at once (spreads the handshake burst). */
  setupConcurrency: number;
  /** Aborting stops opening further sessions. */
  signal?: AbortSignal;
  /** uids are uidOffset+1 .. uidOffset+connections. Default 0. */
  uidOffset?: number;
  /** Opened sessions are added here as they open (so a caller that gives up can close them); default a new array. */
  into?: JanusClient[];
}

/** Failure counts by error code (`JANUS_ERR_*`, or `other`). */
export type ErrorCounts = Record<string, number>;

function countError(counts: ErrorCounts, err: unknown): void {
  const code = isJanusError(err) ? err.code : 'other';
  counts[code] = (counts[code] ?? 0) + 1;
}

/** The opened sessions and what went wrong opening the others. */
export interface ConnectResult {
  clients: JanusClient[];
  /** Failed connects by error code. */
  failures: ErrorCounts;
  /** First failure message, for the report. */
  firstFailure?: string;
  /** Wall time of the whole setup (ms). */
  setupMs: number;
}

/**
 * Opens `connections` sessions (uids uidOffset+1 .. uidOffset+N, one token each), at most `setupConcurrency`
 * connecting at a time. Failures are counted, not thrown.
 */
export async function connectClients(o: ClientPoolOptions): Promise<ConnectResult> {
  const started = performance.now();
  const clients: JanusClient[] = o.into ?? [];
  const failures: ErrorCounts = {};
  let firstFailure: string | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.connections && !o.signal?.aborted) {
      const uid = BigInt((o.uidOffset ?? 0) + ++next);
      try {
        const client = await JanusClient.connect({
          transport: o.transport,
          host: o.host,
          port: o.port,
          token: await o.keys.token(uid),
          clientKeyPem: o.keys.clientKeyPem,
          serverKeys: { 1: o.keys.serverPubPem },
        });
        clients.push(client);
      } catch (err) {
        countError(failures, err);
        firstFailure ??= `uid ${uid}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.setupConcurrency, o.connections) }, worker));
  const result: ConnectResult = { clients, failures, setupMs: performance.now() - started };
  if (firstFailure !== undefined) result.firstFailure = firstFailure;
  return result;
}

/** Counters of a closed-loop run, shared by every connection's loop. */
export class LoadCounters {
  /** Latency of replies received while `measuring`. */
  readonly latency = new LatencyHistogram();
  /** Replies received while `measuring`. */
  replies = 0;
  /** Failed requests by error code (all phases). */
  readonly errors: ErrorCounts = {};
  /** Replies whose data differed from the request's. */
  mismatches = 0;
  /** Loops that ended because their connection closed. */
  closedLoops = 0;
  /** First request failure message, for the report. */
  firstError?: string;
  /** Count replies and latencies (set after the warmup, cleared at the end of the window). */
  measuring = false;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * Runs one closed loop per client until `running()` turns false: send Echo with
 * `payload`, await the reply, record it, repeat. A failed request is counted; the loop
 * ends when its client is closed. Resolves when every loop has ended (each finishes its
 * request in flight).
 */
export async function driveClosedLoop(clients: JanusClient[], payload: Uint8Array, counters: LoadCounters, running: () => boolean): Promise<void> {
  const loop = async (client: JanusClient): Promise<void> => {
    while (running()) {
      const t0 = performance.now();
      try {
        const reply = await client.request(DemoModule.Player, PlayerSeq.Echo, payload);
        const dt = performance.now() - t0;
        if (counters.measuring) {
          counters.replies++;
          counters.latency.record(dt);
        }
        if (!sameBytes(reply.data, payload)) counters.mismatches++;
      } catch (err) {
        countError(counters.errors, err);
        counters.firstError ??= err instanceof Error ? err.message : String(err);
        if (client.closed) {
          counters.closedLoops++;
          return;
        }
      }
    }
  };
  await Promise.all(clients.map(loop));
}

/** Closes every client, `concurrency` at a time; close errors are ignored. */
export async function closeClients(clients: JanusClient[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < clients.length) await clients[next++]!.close().catch(() => {});
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker));
}
