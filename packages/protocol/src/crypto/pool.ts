/**
 * The pooled node:crypto back end: the asymmetric primitives of a handshake (Ed25519 sign
 * and verify, X25519 generate and derive) run in a small pool of worker threads, so a burst
 * of handshakes does not stall the event loop that carries the open sessions' records.
 * Why a worker pool and not the async forms of node:crypto (libuv thread pool): Node 20 has
 * no asynchronous X25519 derive, and the figures in docs/decisions/0008-handshake-offload.md.
 *
 * Key handles are node:crypto's (KeyObjects, as `nodeCrypto` makes them), so keys imported
 * with either back end work with both. SHA-256 and HKDF stay on the calling thread (a few
 * microseconds each, less than a round trip to a worker). Records: use `nodeCrypto.aeadKey`
 * (synchronous); this back end's `aeadKey` wraps the same code in promises.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AeadKey, CryptoBackend, SigningKey, VerifyKey, X25519KeyPair } from './backend.js';
import { nodeCrypto } from './node.js';
import { own, runPoolJob, type PoolJob, type PoolReply, type PoolRequest, type PoolWorkerData } from './pool-jobs.js';

interface Waiter {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

const WORKER_URL = new URL('./pool-worker.js', import.meta.url);
/** Requests per message to a worker at most (the answers to a batch come back together). */
const BATCH_MAX = 32;

class PoolThread {
  readonly pending = new Map<number, Waiter>();
  private readonly worker: Worker;
  private referenced = false;
  /** Requests waiting for the worker to answer its current batch. */
  private outbox: PoolRequest[] = [];
  /** A batch is with the worker, not answered yet. */
  private busy = false;
  dead = false;

  constructor(nice: number, onDead: (t: PoolThread) => void) {
    this.worker = new Worker(WORKER_URL, { workerData: { nice } satisfies PoolWorkerData });
    this.worker.unref();
    this.worker.on('message', (replies: PoolReply[]) => {
      for (const r of replies) {
        const w = this.pending.get(r.id);
        if (!w) continue;
        this.pending.delete(r.id);
        if (r.error !== undefined) w.reject(new Error(r.error));
        else w.resolve(r.value);
      }
      this.busy = false;
      if (this.outbox.length !== 0) this.flush();
      this.updateRef();
    });
    const die = (err: Error): void => {
      if (this.dead) return;
      this.dead = true;
      onDead(this);
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => die(err));
    this.worker.on('exit', (code) => die(new Error(`crypto pool worker exited (code ${code})`)));
  }

  /**
   * Sends a request at once when the worker is idle; while it works on a batch, requests
   * wait and go together when it answers (at most BATCH_MAX a message). Why: under a burst
   * of handshakes one message and one answer carry many requests, so the event loop pays
   * one post and one wake-up per batch instead of per request; with one handshake at a
   * time nothing waits.
   */
  post(req: PoolRequest, waiter: Waiter): void {
    this.pending.set(req.id, waiter);
    this.updateRef();
    this.outbox.push(req);
    if (!this.busy) this.flush();
  }

  private flush(): void {
    if (this.dead) return;
    const batch = this.outbox.length <= BATCH_MAX ? this.outbox : this.outbox.slice(0, BATCH_MAX);
    this.outbox = batch === this.outbox ? [] : this.outbox.slice(BATCH_MAX);
    this.busy = true;
    this.worker.postMessage(batch);
  }

  /** Keeps the process alive while a request is in flight, and only then. */
  private updateRef(): void {
    const want = this.pending.size > 0;
    if (want === this.referenced) return;
    this.referenced = want;
    if (want) this.worker.ref();
    else this.worker.unref();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Options of {@link CryptoPool}. */
export interface CryptoPoolOptions {
  /**
   * Worker threads (>= 0). Default: `availableParallelism() - 1`, at least 1 and at most 4,
   * so the event loop keeps a core to itself. 0 runs every job on the calling thread (the
   * synchronous back end's cost, behind the same promises: for comparison).
   */
  threads?: number;
  /**
   * Share of wall time (0..1) the calling thread may spend running jobs itself; default
   * 0.1. A job runs inline while this budget lasts and no request is in flight, else it
   * goes to a worker. Why: a round trip to a worker costs more CPU than it moves when
   * handshakes come one at a time (about 100 us of wake-ups on the 2-core VM this was
   * measured on, docs/decisions/0008-handshake-offload.md); the budget keeps lone
   * handshakes inline and caps what a burst can take from the event loop.
   */
  inlineShare?: number;
  /** The budget's capacity (ms of inline work back to back); default 1. */
  inlineBurstMs?: number;
  /**
   * OS nice value of each worker thread, -20..19; default 19 (the lowest priority). Linux
   * only, where a nice value belongs to one thread; elsewhere ignored. Why: on cores the
   * event loop shares, a reconnect storm's crypto then runs in the time the open sessions
   * leave, instead of taking an equal share of the cores from them (measured in
   * docs/decisions/0027-handshake-workers-at-low-priority.md). Raising priority (< 0)
   * needs CAP_SYS_NICE; without it the worker keeps its priority and works on.
   */
  workerNice?: number;
}

/** The default pool size for this machine (see {@link CryptoPoolOptions.threads}). */
export function defaultPoolThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

/**
 * The pooled back end (`synchronous: false`). Workers start on first use and do not keep
 * the process alive when idle; {@link CryptoPool.close} ends them.
 */
export class CryptoPool implements CryptoBackend<false> {
  readonly name = 'node-pool';
  readonly synchronous = false;
  /** Worker threads this pool runs when busy. */
  readonly threads: number;
  private readonly live: PoolThread[] = [];
  private nextId = 1;
  private closed = false;
  private readonly inlineShare: number;
  private readonly inlineBurstMs: number;
  private readonly workerNice: number;
  /** Inline budget left (ms) at `budgetAt` (performance.now()). */
  private budgetMs: number;
  private budgetAt = performance.now();
  /** Jobs run inline and sent to workers so far. */
  readonly counts = { inline: 0, offloaded: 0 };

  constructor(o: CryptoPoolOptions = {}) {
    const threads = o.threads ?? defaultPoolThreads();
    if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`threads must be an integer >= 0, got ${threads}`);
    this.threads = threads;
    this.inlineShare = o.inlineShare ?? 0.1;
    this.inlineBurstMs = o.inlineBurstMs ?? 1;
    this.workerNice = o.workerNice ?? 19;
    if (!Number.isInteger(this.workerNice) || this.workerNice < -20 || this.workerNice > 19) throw new RangeError(`workerNice must be an integer in [-20, 19], got ${this.workerNice}`);
    if (!(this.inlineShare >= 0 && this.inlineShare <= 1)) throw new RangeError(`inlineShare must be in [0, 1], got ${this.inlineShare}`);
    if (!(this.inlineBurstMs >= 0)) throw new RangeError(`inlineBurstMs must be >= 0, got ${this.inlineBurstMs}`);
    this.budgetMs = this.inlineBurstMs;
  }

  /** Whether the next job may run on the calling thread (see CryptoPoolOptions.inlineShare). */
  private mayRunInline(now: number): boolean {
    if (this.threads === 0) return true;
    this.budgetMs = Math.min(this.inlineBurstMs, this.budgetMs + (now - this.budgetAt) * this.inlineShare);
    this.budgetAt = now;
    return this.budgetMs > 0 && this.inFlight === 0;
  }

  /** Requests in flight (queued in or running on a worker). */
  get inFlight(): number {
    let n = 0;
    for (const t of this.live) n += t.pending.size;
    return n;
  }

  /** Runs a job inline within budget, else sends it to the least busy worker (starting one while fewer than `threads` run). */
  private call<T>(job: PoolJob): Promise<T> {
    if (this.closed) return Promise.reject(new Error('crypto pool is closed'));
    const t0 = performance.now();
    if (this.mayRunInline(t0)) {
      this.counts.inline++;
      try {
        return Promise.resolve(runPoolJob(job) as T);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      } finally {
        const t1 = performance.now();
        this.budgetMs -= t1 - t0;
        this.budgetAt = t1;
      }
    }
    this.counts.offloaded++;
    let thread: PoolThread | undefined;
    for (const t of this.live) if (!thread || t.pending.size < thread.pending.size) thread = t;
    if (!thread || (thread.pending.size > 0 && this.live.length < this.threads)) {
      thread = new PoolThread(this.workerNice, (dead) => {
        const i = this.live.indexOf(dead);
        if (i >= 0) this.live.splice(i, 1);
      });
      this.live.push(thread);
    }
    const req = { ...job, id: this.nextId++ } as PoolRequest;
    const t = thread;
    return new Promise<T>((resolve, reject) => t.post(req, { resolve: resolve as (v: unknown) => void, reject }));
  }

  randomBytes(n: number): Uint8Array {
    return nodeCrypto.randomBytes(n);
  }

  async sha256(data: Uint8Array): Promise<Uint8Array> {
    return nodeCrypto.sha256(data);
  }

  async hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
    return nodeCrypto.hkdfSha256(ikm, salt, info, length);
  }

  async x25519Generate(): Promise<X25519KeyPair> {
    const [pair] = await this.call<X25519KeyPair[]>({ op: 'x25519Generate', count: 1 });
    return pair!;
  }

  async x25519FromPkcs8(pkcs8: Uint8Array): Promise<X25519KeyPair> {
    return nodeCrypto.x25519FromPkcs8(pkcs8);
  }

  x25519(privateKey: unknown, peerPublic: Uint8Array): Promise<Uint8Array> {
    return this.call<Uint8Array>({ op: 'x25519', privateKey, peerPublic: own(peerPublic) });
  }

  async importSigningKey(pem: string): Promise<SigningKey> {
    return nodeCrypto.importSigningKey(pem);
  }

  async importVerifyKey(pem: string): Promise<VerifyKey> {
    return nodeCrypto.importVerifyKey(pem);
  }

  ed25519Sign(key: SigningKey, message: Uint8Array): Promise<Uint8Array> {
    return this.call<Uint8Array>({ op: 'ed25519Sign', key: key.handle, message: own(message) });
  }

  async ed25519Verify(key: VerifyKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64) return false;
    return this.call<boolean>({ op: 'ed25519Verify', key: key.handle, message: own(message), signature: own(signature) });
  }

  async aeadKey(key: Uint8Array): Promise<AeadKey<false>> {
    const k = nodeCrypto.aeadKey(key);
    return {
      seal: async (nonce, aad, plaintext) => k.seal(nonce, aad, plaintext),
      open: async (nonce, aad, sealed) => k.open(nonce, aad, sealed),
    };
  }

  /** Ends every worker; requests in flight reject. Later calls reject. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.live.splice(0);
    await Promise.all(threads.map((t) => t.terminate()));
  }
}


