/**
 * Rate limits (PROTOCOL.md 8 "Rate limit", 7.2 "over a per-address limit"): token buckets
 * driven by the caller's clock, a per-window strike counter, and the handshake admission
 * that bounds new connections per second per address and in all.
 */

/**
 * A token bucket: refills at `ratePerS` tokens per second up to `burst`; starts full.
 * Time is passed in (ms, the Clock port's monotonic time: a wall-clock step neither refills
 * nor freezes a bucket), so a manual clock drives it in tests.
 */
export class TokenBucket {
  private tokens: number;
  private atMs: number;

  /**
   * @param ratePerS tokens added per second (> 0).
   * @param burst bucket size (tokens).
   * @param nowMs the clock's time at creation (ms).
   */
  constructor(
    private ratePerS: number,
    private burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.atMs = nowMs;
  }

  /**
   * Changes rate and size from now on (a config reload); tokens above the new size are
   * dropped. The time since the last take refills at the new rate.
   */
  reconfigure(ratePerS: number, burst: number): void {
    this.ratePerS = ratePerS;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(nowMs: number): void {
    if (nowMs > this.atMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.atMs) * this.ratePerS) / 1000);
      this.atMs = nowMs;
    }
  }

  /** Takes `n` tokens if there are that many; false (nothing taken) otherwise. */
  take(nowMs: number, n = 1): boolean {
    this.refill(nowMs);
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** True when at least one token is left (nothing taken). */
  hasTokens(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= 1;
  }

  /** Takes `n` tokens even past zero (a debt repaid by later refills): for costs known only after the work. */
  charge(nowMs: number, n: number): void {
    this.refill(nowMs);
    this.tokens -= n;
  }

  /** True when the bucket is full (an idle key whose bucket may be forgotten). */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.burst;
  }
}

/**
 * Counts over-limit events in one-second windows; `strike()` says when a window has seen
 * `limit` of them (the connection "stays over the limit", PROTOCOL.md 8).
 */
export class StrikeCounter {
  private windowMs = -Infinity;
  private count = 0;

  /** @param limit strikes within one second that end the connection. */
  constructor(private readonly limit: number) {}

  /** Records one strike at `nowMs`; true when this window reached the limit. */
  strike(nowMs: number): boolean {
    if (nowMs - this.windowMs >= 1000) {
      this.windowMs = nowMs;
      this.count = 0;
    }
    return ++this.count >= this.limit;
  }
}

/** Limits of {@link HandshakeAdmission}. */
export interface HandshakeLimits {
  /** New connections (each a handshake) per second in all; the burst is twice this. */
  handshakesPerSecond: number;
  /** New connections per second from one remote address; the burst is twice this. */
  handshakesPerSecondPerAddress: number;
}

/** Per-address buckets kept before idle (full) ones are swept. */
const SWEEP_AT_ADDRESSES = 4096;

/**
 * Admission of new connections by handshake rate: a global bucket and one bucket per
 * remote address. A refused connection is answered ServerLogout Waiting at accept
 * (PROTOCOL.md 7.2), before any handshake crypto runs. Memory: one bucket per address
 * seen within the last burst/rate seconds (idle ones are swept).
 */
export class HandshakeAdmission {
  private readonly all: TokenBucket;
  private readonly byAddress = new Map<string, TokenBucket>();
  private sweepAt = SWEEP_AT_ADDRESSES;
  /** Connections refused so far (total). */
  refused = 0;

  constructor(
    private limits: HandshakeLimits,
    nowMs: number,
  ) {
    this.all = new TokenBucket(limits.handshakesPerSecond, 2 * limits.handshakesPerSecond, nowMs);
  }

  /**
   * New limits from now on (a config reload): the global bucket keeps its tokens up to its
   * new size; per-address buckets are dropped, so each address starts again with a full
   * burst at the new rate.
   */
  setLimits(limits: HandshakeLimits): void {
    this.limits = { handshakesPerSecond: limits.handshakesPerSecond, handshakesPerSecondPerAddress: limits.handshakesPerSecondPerAddress };
    this.all.reconfigure(limits.handshakesPerSecond, 2 * limits.handshakesPerSecond);
    this.byAddress.clear();
  }

  /** Takes a handshake slot for `address`; false: refuse the connection. */
  admit(address: string, nowMs: number): boolean {
    let b = this.byAddress.get(address);
    if (!b) {
      if (this.byAddress.size >= this.sweepAt) this.sweep(nowMs);
      const r = this.limits.handshakesPerSecondPerAddress;
      b = new TokenBucket(r, 2 * r, nowMs);
      this.byAddress.set(address, b);
    }
    // Per address first: one flooding address must not drain the global bucket.
    if (!b.hasTokens(nowMs) || !this.all.take(nowMs)) {
      this.refused++;
      return false;
    }
    b.take(nowMs);
    return true;
  }

  /** Addresses with a bucket (for tests and stats). */
  get trackedAddresses(): number {
    return this.byAddress.size;
  }

  private sweep(nowMs: number): void {
    for (const [a, b] of this.byAddress) if (b.isFull(nowMs)) this.byAddress.delete(a);
    // Every tracked address is active: let the map grow, but sweep again only after it doubles.
    this.sweepAt = Math.max(SWEEP_AT_ADDRESSES, 2 * this.byAddress.size);
  }
}
