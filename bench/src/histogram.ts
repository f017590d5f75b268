/**
 * A latency histogram in the spirit of HdrHistogram: log-linear buckets over integer
 * microseconds, so recording is O(1) with no allocation and percentiles have a bounded
 * relative error (under 0.2 %) whatever the number of samples.
 *
 * Layout: values 0..1023 us have one bucket each (exact). Above that, each power-of-two
 * range [2^e, 2^(e+1)) is split into 512 equal buckets. Values are clamped to
 * {@link MAX_TRACKABLE_US} (about 35 minutes).
 */

/** Values below this are recorded exactly (one bucket per microsecond). */
const LINEAR_LIMIT = 1024;
/** Buckets per power-of-two range above LINEAR_LIMIT. */
const SUB_BUCKETS = 512;
/** log2(LINEAR_LIMIT). */
const LINEAR_BITS = 10;
/** Largest value kept as is (us); larger values are recorded as this. */
export const MAX_TRACKABLE_US = 2 ** 31 - 1;
const BUCKETS = LINEAR_LIMIT + (31 - LINEAR_BITS) * SUB_BUCKETS;

function bucketOf(us: number): number {
  if (us < LINEAR_LIMIT) return us;
  const e = 31 - Math.clz32(us); // floor(log2(us)), >= LINEAR_BITS
  const shift = e - (LINEAR_BITS - 1);
  return LINEAR_LIMIT + (e - LINEAR_BITS) * SUB_BUCKETS + ((us >>> shift) - SUB_BUCKETS);
}

/** The largest value (us) that falls in bucket `i`. */
function highestIn(i: number): number {
  if (i < LINEAR_LIMIT) return i;
  const k = i - LINEAR_LIMIT;
  const e = Math.floor(k / SUB_BUCKETS) + LINEAR_BITS;
  const shift = e - (LINEAR_BITS - 1);
  const sub = (k % SUB_BUCKETS) + SUB_BUCKETS;
  return (sub + 1) * 2 ** shift - 1;
}

/** Summary of a histogram, in milliseconds. */
export interface LatencySummary {
  /** Samples recorded. */
  count: number;
  /** Mean (ms), exact. */
  meanMs: number;
  /** Median (ms): the highest value of the bucket holding the 50th percentile sample. */
  p50Ms: number;
  /** 90th percentile (ms), same convention. */
  p90Ms: number;
  /** 99th percentile (ms), same convention. */
  p99Ms: number;
  /** 99.9th percentile (ms), same convention. */
  p999Ms: number;
  /** Largest sample (ms), exact to the microsecond. */
  maxMs: number;
}

/** A latency histogram over microseconds. */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sumUs = 0;
  private maxUs = 0;

  /** Samples recorded so far. */
  get count(): number {
    return this.total;
  }

  /**
   * Records one sample.
   * @param ms latency in milliseconds (fractions kept to the microsecond); negative or
   *   non-finite values are recorded as 0, values past {@link MAX_TRACKABLE_US} are clamped.
   */
  record(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us > 0)) us = 0;
    else if (us > MAX_TRACKABLE_US) us = MAX_TRACKABLE_US;
    this.counts[bucketOf(us)]! += 1;
    this.total += 1;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** Forgets every sample (used at the end of the warmup). */
  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sumUs = 0;
    this.maxUs = 0;
  }

  /**
   * The value (ms) at or below which `q` of the samples fall: the highest value of the
   * bucket holding sample number ceil(q * count), capped by the exact maximum. 0 when empty.
   * @param q quantile in [0, 1].
   */
  quantileMs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(Math.min(Math.max(q, 0), 1) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(highestIn(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  /** Count, mean, p50/p90/p99/p99.9 and max, all in milliseconds. */
  summary(): LatencySummary {
    return {
      count: this.total,
      meanMs: this.total === 0 ? 0 : this.sumUs / this.total / 1000,
      p50Ms: this.quantileMs(0.5),
      p90Ms: this.quantileMs(0.9),
      p99Ms: this.quantileMs(0.99),
      p999Ms: this.quantileMs(0.999),
      maxMs: this.maxUs / 1000,
    };
  }
}
