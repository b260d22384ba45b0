/**
 * Token buckets by key, in this instance's memory: each key holds up to `burst` tokens and gains
 * `perSec` a second. A bucket untouched long enough to be full again is as good as absent, so the
 * map drops those when it grows, and its size stays that of the keys active in the last moments.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private static readonly SWEEP_AT = 10_000;

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes `cost` tokens from the key's bucket: 0 when it had them, else the milliseconds until it
   * will (nothing is taken then). A rate of 0 means no limit.
   */
  take(key: string, cost = 1): number {
    if (this.perSec <= 0) return 0;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perSec) / 1000);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= TokenBuckets.SWEEP_AT) this.sweep(now);
      this.buckets.set(key, bucket);
    }
    // A cost above the burst could never be paid: it waits for a full bucket and takes it all.
    const needed = Math.min(cost, this.burst);
    if (bucket.tokens >= needed) {
      bucket.tokens -= needed;
      return 0;
    }
    return Math.ceil(((needed - bucket.tokens) * 1000) / this.perSec);
  }

  private sweep(now: number): void {
    const fullAfterMs = (this.burst * 1000) / this.perSec;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= fullAfterMs) this.buckets.delete(key);
  }
}
