/**
 * The soak (docs/reliability.md "Soak"): the demo stack as the load bench runs it (demo
 * backend and gateway each in a child process, bench/src/run.ts) under churn for a set
 * time, with the gateway's memory sampled and every request's answer accounted.
 *
 * Phases:
 * 1. Calibration (unless a rate is given): `sessions` sessions join their rooms and run
 *    a closed loop of the churn's request mix (below) for `calibrateS`; the soak's rate is
 *    half the answers/s measured ("about half the measured capacity", for this mix, on
 *    this machine, now).
 * 2. Churn for `durationS`: one worker per uid logs in, joins its room (Room Join), is
 *    driven by the paced dispatcher for a random lifetime, then leaves (half the time),
 *    waits for its answers and closes (FIN), or, for `abruptShare` of the sessions, resets
 *    its socket mid-flight; then logs in again with the same uid. The dispatcher sends
 *    `rate` requests/s over the open sessions (80 % Echo, 10 % Counter, 10 % room Say),
 *    at most `maxInFlight` per session. Every `restartEveryS` the backend is stopped
 *    and started again on the same port, alternately gracefully and with SIGKILL: every
 *    session then ends with ServerLogout Waiting (PROTOCOL.md 9) and its worker logs in
 *    again until it succeeds.
 * 3. Wind-down: workers drain and close; the gateway, then the backend, stop.
 *
 * Every `sampleEveryS` the gateway child's RSS and V8 heap are sampled (ipc.ts `usage`).
 */
import { setMaxListeners } from 'node:events';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DemoModule, PlayerSeq, RoomSeq } from '@janus/demo-backend';
import { ErrorCode, JanusError, isJanusError, utf8, type Packet } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { BenchChild } from './child.js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { BACKEND_PORT_ENV, GATEWAY_CONFIG_ENV } from './ipc.js';
import { makeBenchKeys } from './keys.js';
import { benchGatewayConfig, describeCommit, GATEWAY_NODE_FLAGS } from './run.js';
import { emptyTotals, ledgerViolations, SessionBook, type LedgerTotals } from './soak-ledger.js';
import { LoginRefused, SoakSession, type Answer, type SoakClientKeys, type SoakSessionOptions } from './soak-session.js';

/** Options of one soak. Times in seconds unless named otherwise. */
export interface SoakOptions {
  /** Length of the churn phase (s). */
  durationS: number;
  /** Concurrent workers, one uid each (uids 1..sessions). */
  sessions: number;
  /** Requests per second over all sessions; null = half the capacity measured in calibration. */
  rate: number | null;
  /** Closed-loop calibration before the churn (s); only when `rate` is null. */
  calibrateS: number;
  /** Memory sample period (s). */
  sampleEveryS: number;
  /** Backend restart period (s): restarts at restartEveryS, 2 x restartEveryS, ... before the end; 0 = none. */
  restartEveryS: number;
  /** Session lifetime, drawn uniformly from [min, max] (s). */
  lifetimeMinS: number;
  lifetimeMaxS: number;
  /** Sessions per chat room (room of uid u: 1 + u mod ceil(sessions / roomSize)). */
  roomSize: number;
  /** Requests in flight per session, at most. */
  maxInFlight: number;
  /** Share of sessions (0..1) that end with an abrupt reset instead of a graceful close. */
  abruptShare: number;
  /** How long a closing session waits for its answers (ms); what is still open then is lost. */
  drainTimeoutMs: number;
  /** RSS samples before this point are warm-up, left out of the trend (s). */
  warmupS: number;
  /** Receives progress lines (and the children's output when `childOutput`). */
  log?: (line: string) => void;
  /** Also pass the children's log lines to `log`. Default false. */
  childOutput?: boolean;
}

/** Defaults of {@link SoakOptions} (the 30-minute soak overrides only durationS). */
export const SOAK_DEFAULTS: Omit<SoakOptions, 'durationS'> = {
  sessions: 200,
  rate: null,
  calibrateS: 10,
  sampleEveryS: 10,
  restartEveryS: 600,
  lifetimeMinS: 5,
  lifetimeMaxS: 60,
  roomSize: 5,
  maxInFlight: 16,
  abruptShare: 0.1,
  drainTimeoutMs: 10000,
  warmupS: 120,
};

/** One memory sample. */
export interface SoakSample {
  /** Seconds since the churn started. */
  tS: number;
  gatewayRssMB: number;
  gatewayHeapMB: number;
  /** Null while the backend restarts. */
  backendRssMB: number | null;
  /** Sessions logged in at that instant. */
  sessionsOpen: number;
  /** Requests sent so far. */
  sent: number;
  /** Logins so far. */
  logins: number;
}

/** One backend restart. */
export interface SoakRestart {
  /** Seconds since the churn started. */
  atS: number;
  /**
   * How the old backend went: `graceful` (its server closes, every stream ends with status
   * OK) or `kill` (SIGKILL: the HTTP/2 connections drop). Restarts alternate, graceful first.
   */
  kind: 'graceful' | 'kill';
  /** Stop of the old backend until it exited (ms). */
  stopMs: number;
  /** Start of the new one until it served (ms). */
  startMs: number;
  /** From the stop's start to the next successful login (ms); null when none followed. */
  recoveredMs: number | null;
}

/** What a soak measured. */
export interface SoakResult {
  options: SoakOptions;
  /** Requests per second offered. */
  rate: number;
  /** Closed-loop replies/s of the calibration; null when the rate was given. */
  calibratedCapacity: number | null;
  /** Actual churn length (s). */
  elapsedS: number;
  /** Requests sent per second over the churn. */
  achievedRate: number;
  /** Dispatcher slots with no session able to take a request (none open, or all at maxInFlight). */
  notSent: number;
  totals: LedgerTotals;
  /** Broken rules of the ledger (ledgerViolations); empty when every request got exactly one answer. */
  violations: string[];
  logins: { ok: number; refused: Record<string, number>; failed: Record<string, number>; firstFailure?: string };
  /** Sessions ended by the client: graceful closes and abrupt resets. */
  clientCloses: { graceful: number; abrupt: number };
  latency: LatencySummary;
  samples: SoakSample[];
  restarts: SoakRestart[];
  memory: MemorySummary;
  commit: string;
  node: string;
  cpuCount: number;
  cpuModel: string;
}

/** The gateway's RSS over the samples after the warm-up. */
export interface MemorySummary {
  /** Samples the figures below use (tS >= warmupS; all of them when fewer than 3 qualify). */
  samplesUsed: number;
  rssFirstMB: number;
  rssLastMB: number;
  rssMaxMB: number;
  /** Least-squares slope of RSS over time (MB per minute). */
  rssSlopeMBPerMin: number;
  heapMaxMB: number;
  /** Least-squares slope of the heap (MB per minute). */
  heapSlopeMBPerMin: number;
}

const MB = 1024 * 1024;
const CHILD_STOP_MS = 15000;
const LOGIN_TIMEOUT_MS = 10000;
const TICK_MS = 20;

/** Least-squares slope of y over x (0 with fewer than 2 points). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The {@link MemorySummary} of `samples`, leaving out those before `warmupS`. */
export function summarizeMemory(samples: SoakSample[], warmupS: number): MemorySummary {
  let used = samples.filter((s) => s.tS >= warmupS);
  if (used.length < 3) used = samples;
  const t = used.map((s) => s.tS / 60);
  const rss = used.map((s) => s.gatewayRssMB);
  const heap = used.map((s) => s.gatewayHeapMB);
  return {
    samplesUsed: used.length,
    rssFirstMB: rss[0] ?? 0,
    rssLastMB: rss[rss.length - 1] ?? 0,
    rssMaxMB: Math.max(0, ...rss),
    rssSlopeMBPerMin: slope(t, rss),
    heapMaxMB: Math.max(0, ...heap),
    heapSlopeMBPerMin: slope(t, heap),
  };
}

function countInto(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

const json = (v: unknown): Uint8Array => utf8(JSON.stringify(v));

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A session the dispatcher may send on. */
interface Active {
  session: SoakSession;
  book: SessionBook;
  uid: number;
  room: bigint;
  joined: boolean;
  counter: number;
}

/**
 * Runs one soak.
 * @param signal aborting ends the churn early (the wind-down still runs, every child is stopped).
 * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when a child fails to start or exits
 *   unexpectedly, or when calibration opens no session.
 */
export async function runSoak(o: SoakOptions, signal?: AbortSignal): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const keys = await makeBenchKeys();
  const clientKeys: SoakClientKeys = {
    clientKey: nodeCrypto.importSigningKey(keys.clientKeyPem),
    pins: new Map([[1, nodeCrypto.importVerifyKey(keys.serverPubPem)]]),
  };
  const totals = emptyTotals();
  const latency = new LatencyHistogram();
  const logins: SoakResult['logins'] = { ok: 0, refused: {}, failed: {} };
  const clientCloses = { graceful: 0, abrupt: 0 };
  const samples: SoakSample[] = [];
  const restarts: SoakRestart[] = [];
  const stop = new AbortController();
  // Every worker waits on this signal.
  setMaxListeners(0, stop.signal);
  const onAbort = (): void => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) stop.abort();
  let failure: JanusError | null = null;
  const fail = (err: JanusError): void => {
    failure ??= err;
    stop.abort();
  };
  const childLine = (name: string) => (line: string) => o.childOutput && log(`[${name}] ${line}`);

  let backend: BenchChild | null = null;
  let gateway: BenchChild | null = null;
  let restarting = false;
  const startBackend = async (port: number): Promise<BenchChild> => {
    const c = await BenchChild.start({
      name: 'backend',
      script: new URL('./backend-proc.js', import.meta.url),
      env: { [BACKEND_PORT_ENV]: String(port) },
      onLine: childLine('backend'),
    });
    void c.exited.then(() => {
      if (c === backend && !restarting && !stop.signal.aborted) fail(c.exitError());
    });
    return c;
  };

  const opened = new Set<SoakSession>();
  const actives: Active[] = [];
  let awaitingRecovery: { restart: SoakRestart; t0: number } | null = null;
  let t0 = performance.now();
  let sent = 0;
  let notSent = 0;
  let elapsedS = 0;
  let rate = o.rate ?? 0;
  let calibratedCapacity: number | null = null;

  try {
    backend = await startBackend(0);
    const backendPort = backend.ports.grpc!;
    const cfg = benchGatewayConfig(keys.dir, backendPort);
    gateway = await BenchChild.start({
      name: 'gateway',
      script: new URL('./gateway-proc.js', import.meta.url),
      env: { [GATEWAY_CONFIG_ENV]: JSON.stringify(cfg) },
      execArgv: [...GATEWAY_NODE_FLAGS],
      onLine: childLine('gateway'),
    });
    const gw = gateway;
    void gw.exited.then(() => fail(gw.exitError()));
    const port = gw.ports.tcp!;
    log(`gateway pid ${gw.pid} tcp 127.0.0.1:${port}, backend pid ${backend.pid} grpc 127.0.0.1:${backendPort}`);

    const sessionOptions = (token: string, onPush?: (p: Packet) => void): SoakSessionOptions => ({
      host: '127.0.0.1',
      port,
      keys: clientKeys,
      token,
      maxFrameBytes: 65536,
      maxInflateBytes: 1024 * 1024,
      loginTimeoutMs: LOGIN_TIMEOUT_MS,
      ...(onPush ? { onPush } : {}),
    });
    const echoData = (uid: number, n: number): Uint8Array => json({ u: uid, n, pad: 'soak' });
    const timed = (p: Promise<{ kind: string }>, at: number): void => {
      void p.then((a) => {
        if (a.kind === 'reply' || a.kind === 'unexpectedErr') latency.record(performance.now() - at);
      });
    };

    const rooms = Math.max(1, Math.ceil(o.sessions / o.roomSize));
    const roomOf = (uid: number): bigint => BigInt(1 + (uid % rooms));

    /** Logs `uid` in with a fresh book whose own-push check sees the room Message pushes. */
    const openSession = async (uid: number, book: SessionBook): Promise<SoakSession> => {
      const onPush = (p: Packet): void => {
        if (p.mod !== DemoModule.Room || p.seq !== RoomSeq.Message) return;
        const m = JSON.parse(Buffer.from(p.data).toString('utf8')) as { uid: number; text: string };
        if (m.uid === uid) book.ownPush(m.text);
      };
      return SoakSession.open(sessionOptions(await keys.token(BigInt(uid)), onPush), book);
    };

    /** Room Join; the session is active (its mix may Say) when the Join got its reply. */
    const join = async (s: SoakSession, book: SessionBook, uid: number): Promise<Active> => {
      const room = roomOf(uid);
      const at = performance.now();
      const reply = s.request(DemoModule.Room, RoomSeq.Join, json({ name: `soak ${uid}` }), { obj: room });
      timed(reply, at);
      return { session: s, book, uid, room, joined: (await reply).kind === 'reply', counter: 0 };
    };

    /** One request of the soak's mix: 80 % Echo, 10 % Counter, 10 % room Say (Echo when not joined). */
    const sendMix = (a: Active): Promise<Answer> => {
      const s = a.session;
      const n = a.counter++;
      const r = Math.random();
      const at = performance.now();
      let answer: Promise<Answer>;
      if (r < 0.8 || (r >= 0.9 && !a.joined)) {
        const data = echoData(a.uid, n);
        answer = s.request(DemoModule.Player, PlayerSeq.Echo, data, { expect: data });
      } else if (r < 0.9) {
        answer = s.request(DemoModule.Player, PlayerSeq.Counter, new Uint8Array(0));
      } else {
        // The sender's own Message push is due once its Say has its reply (docs/demo.md).
        const text = `s${a.uid}-${n}`;
        answer = s.request(DemoModule.Room, RoomSeq.Say, json({ text }), { obj: a.room, onReply: () => a.book.ownPushDue(text) });
      }
      timed(answer, at);
      return answer;
    };

    // --- Phase 1: calibration (closed loop of the same mix) -------------------------
    if (o.rate === null) {
      log(`calibrating: ${o.sessions} sessions, closed loop of the soak's request mix for ${o.calibrateS} s`);
      const cal: Active[] = [];
      await Promise.all(
        Array.from({ length: o.sessions }, async (_, i) => {
          const book = new SessionBook(totals);
          try {
            const s = await openSession(i + 1, book);
            cal.push(await join(s, book, i + 1));
          } catch {
            // capacity is measured over the sessions that opened
          }
        }),
      );
      if (cal.length === 0) throw new JanusError(ErrorCode.ConnectionClosed, 'calibration: no session opened');
      let answers = 0;
      let calibrating = true;
      const start = performance.now();
      await Promise.all(
        cal
          .map(async (a) => {
            while (calibrating && !a.session.isClosed && !stop.signal.aborted) {
              const k = (await sendMix(a)).kind;
              if (k === 'reply' || k === 'unexpectedErr') answers++;
            }
          })
          .concat([pause(o.calibrateS * 1000, stop.signal).then(() => void (calibrating = false))]),
      );
      calibratedCapacity = answers / ((performance.now() - start) / 1000);
      rate = Math.max(1, Math.round(calibratedCapacity / 2));
      await Promise.all(cal.map((a) => a.session.idle(o.drainTimeoutMs).then(() => a.session.close())));
      latency.reset();
      log(`calibration: ${calibratedCapacity.toFixed(0)} answers/s closed-loop over ${cal.length} sessions; soak rate ${rate}/s`);
    }

    // --- Phase 2: churn -------------------------------------------------------------
    t0 = performance.now();
    const nowS = (): number => (performance.now() - t0) / 1000;

    const worker = async (uid: number): Promise<void> => {
      while (!stop.signal.aborted) {
        const book = new SessionBook(totals);
        let s: SoakSession;
        try {
          s = await openSession(uid, book);
        } catch (err) {
          if (err instanceof LoginRefused) countInto(logins.refused, String(err.details.logoutCode));
          else {
            countInto(logins.failed, isJanusError(err) ? err.code : 'other');
            logins.firstFailure ??= `uid ${uid}: ${(err as Error).message}`;
          }
          await pause(100 + Math.random() * 900, stop.signal);
          continue;
        }
        logins.ok++;
        if (awaitingRecovery) {
          awaitingRecovery.restart.recoveredMs = performance.now() - awaitingRecovery.t0;
          awaitingRecovery = null;
        }
        opened.add(s);
        const lifeMs = (o.lifetimeMinS + Math.random() * (o.lifetimeMaxS - o.lifetimeMinS)) * 1000;
        const abrupt = Math.random() < o.abruptShare;
        const active = await join(s, book, uid);
        sent++;
        if (!s.isClosed) {
          actives.push(active);
          await Promise.race([pause(lifeMs, stop.signal), s.ended]);
          actives.splice(actives.indexOf(active), 1);
        }
        if (!s.isClosed) {
          if (abrupt) {
            clientCloses.abrupt++;
            await s.destroy();
          } else {
            if (active.joined && Math.random() < 0.5) {
              const leave = s.request(DemoModule.Room, RoomSeq.Leave, json({}), { obj: active.room });
              sent++;
              await leave;
            }
            await s.idle(o.drainTimeoutMs);
            clientCloses.graceful++;
            await s.close();
          }
        }
        const how = await s.ended;
        opened.delete(s);
        // After a ServerLogout (the backend restarting), back off a little with jitter.
        if (how.kind === 'logout') await pause(100 + Math.random() * 900, stop.signal);
      }
    };

    log(`churn: ${o.sessions} workers, ${rate} requests/s, lifetimes ${o.lifetimeMinS}-${o.lifetimeMaxS} s, backend restart every ${o.restartEveryS || '-'} s, for ${o.durationS} s`);
    const workers = Array.from({ length: o.sessions }, (_, i) => worker(i + 1));

    let tokens = 0;
    let last = performance.now();
    let rr = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      tokens += (rate * (now - last)) / 1000;
      last = now;
      while (tokens >= 1) {
        let picked: Active | null = null;
        for (let k = 0; k < actives.length; k++) {
          const a = actives[(rr + k) % actives.length]!;
          if (a.session.inFlight < o.maxInFlight && !a.session.isClosed) {
            picked = a;
            rr = (rr + k + 1) % actives.length;
            break;
          }
        }
        tokens--;
        if (!picked) notSent++;
        else {
          void sendMix(picked);
          sent++;
        }
      }
    }, TICK_MS);

    const sample = async (): Promise<void> => {
      const g = await gw.usage().catch(() => null);
      const b = restarting || !backend ? null : await backend.usage().catch(() => null);
      if (!g) return;
      samples.push({
        tS: nowS(),
        gatewayRssMB: g.rssBytes / MB,
        gatewayHeapMB: g.heapUsedBytes / MB,
        backendRssMB: b ? b.rssBytes / MB : null,
        sessionsOpen: opened.size,
        sent: totals.sent,
        logins: logins.ok,
      });
      const s = samples[samples.length - 1]!;
      log(`t=${s.tS.toFixed(0)} s gateway RSS ${s.gatewayRssMB.toFixed(1)} MB heap ${s.gatewayHeapMB.toFixed(1)} MB, ${s.sessionsOpen} open, ${s.sent} sent, ${s.logins} logins`);
    };
    await sample();
    const sampler = setInterval(() => void sample(), o.sampleEveryS * 1000);

    const restartLoop = async (): Promise<void> => {
      if (o.restartEveryS <= 0) return;
      for (let k = 1; k * o.restartEveryS < o.durationS; k++) {
        await pause(k * o.restartEveryS * 1000 - (performance.now() - t0), stop.signal);
        if (stop.signal.aborted) return;
        const r: SoakRestart = { atS: nowS(), kind: k % 2 === 1 ? 'graceful' : 'kill', stopMs: 0, startMs: 0, recoveredMs: null };
        restarts.push(r);
        log(`t=${r.atS.toFixed(0)} s: restarting the backend (${r.kind})`);
        const began = performance.now();
        restarting = true;
        if (r.kind === 'graceful') await backend!.stop(CHILD_STOP_MS);
        else {
          backend!.kill();
          await backend!.exited;
        }
        r.stopMs = performance.now() - began;
        awaitingRecovery = { restart: r, t0: began };
        const s0 = performance.now();
        backend = await startBackend(backendPort);
        restarting = false;
        r.startMs = performance.now() - s0;
        log(`backend restarted: stop ${r.stopMs.toFixed(0)} ms, start ${r.startMs.toFixed(0)} ms`);
      }
    };
    const restartsDone = restartLoop().catch((err: unknown) => fail(isJanusError(err) ? err : new JanusError(ErrorCode.ConnectionClosed, String(err))));

    await pause(o.durationS * 1000, stop.signal);
    await sample();
    elapsedS = nowS();
    clearInterval(tick);
    clearInterval(sampler);
    stop.abort();
    log('winding down');
    await restartsDone;
    await Promise.all(workers);
    if (failure) throw failure;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop.abort();
    await Promise.all([...opened].map((s) => s.destroy()));
    // Gateway first (it drains its tunnels), then the backend.
    const g = gateway;
    const b = backend;
    gateway = null;
    backend = null;
    if (g) await g.stop(CHILD_STOP_MS);
    if (b) await b.stop(CHILD_STOP_MS);
    keys.remove();
  }

  const result: SoakResult = {
    options: o,
    rate,
    calibratedCapacity,
    elapsedS,
    achievedRate: sent / elapsedS,
    notSent,
    totals,
    violations: ledgerViolations(totals),
    logins,
    clientCloses,
    latency: latency.summary(),
    samples,
    restarts,
    memory: summarizeMemory(samples, o.warmupS),
    commit: describeCommit(),
    node: process.version,
    cpuCount: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
  };
  return result;
}
