/**
 * zlib work off the event loop (PROTOCOL.md 8 "Compression"): inflate and deflate run in
 * libuv's thread pool through node:zlib's asynchronous calls, at most `concurrency` jobs
 * at once for the whole gateway, the rest queued in arrival order. Callers keep their own
 * message order (the inbox waits for an inflate, the sender queues behind a deflate).
 */
import { deflate, inflate } from 'node:zlib';
import { ErrorCode, JanusError } from '@janus/protocol';

type Job = () => void;

/** A gateway-wide limiter of zlib jobs. */
export class ZlibPool {
  private running = 0;
  private readonly waiting: Job[] = [];
  /** Jobs run so far (inflate + deflate). */
  jobs = 0;
  /** The most jobs that waited at once. */
  peakWaiting = 0;

  /** @param concurrency zlib jobs in the thread pool at once (count, >= 1). */
  constructor(private readonly concurrency: number) {}

  private run<T>(work: (done: (err: Error | null, out: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = (): void => {
        this.running++;
        this.jobs++;
        let settled = false;
        const done = (err: Error | null, out: T): void => {
          if (settled) return;
          settled = true;
          this.running--;
          const next = this.waiting.shift();
          if (next) next();
          if (err) reject(err);
          else resolve(out);
        };
        // node:zlib throws at once for options it refuses (a maxOutputLength over
        // buffer.kMaxLength, a level outside 0..9): that ends the job as well, or its slot
        // would be held for good and every later job would wait behind it.
        try {
          work(done);
        } catch (err) {
          done(err as Error, undefined as T);
        }
      };
      if (this.running < this.concurrency) job();
      else {
        this.waiting.push(job);
        if (this.waiting.length > this.peakWaiting) this.peakWaiting = this.waiting.length;
      }
    });
  }

  /**
   * Inflates `data`, stopping as soon as the output passes `maxOutputBytes`.
   * @throws JanusError JANUS_ERR_INFLATE (over the limit, not valid zlib data, or a limit zlib refuses).
   */
  inflate(data: Uint8Array, maxOutputBytes: number): Promise<Uint8Array> {
    return this.run<Uint8Array>((done) => inflate(data, { maxOutputLength: maxOutputBytes }, done)).catch((err: Error) => {
      throw new JanusError(ErrorCode.InflateLimit, `inflate failed: ${err.message}`);
    });
  }

  /**
   * Deflates `data` at zlib `level` (1..9).
   * @throws Error node:zlib's own, as it raised it (e.g. ERR_OUT_OF_RANGE for a level
   * outside 0..9): a deflate of the gateway's own data fails only on a bug, which no
   * wire error code describes; the sender logs it and sends the data uncompressed.
   */
  deflate(data: Uint8Array, level: number): Promise<Uint8Array> {
    return this.run<Uint8Array>((done) => deflate(data, { level }, done));
  }
}
