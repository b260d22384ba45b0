/**
 * Exponential backoff with full jitter (AWS "full jitter"): many agents that lost the control plane
 * together do not come back in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
  ) {}

  /** The next delay: random in [base/2, min(max, base·2^n)]; `capMs` lowers the max for this one. */
  next(capMs = this.maxMs): number {
    const cap = Math.min(capMs, this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.max(this.baseMs / 2, Math.random() * cap);
  }

  reset() {
    this.attempt = 0;
  }

  get failures() {
    return this.attempt;
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
