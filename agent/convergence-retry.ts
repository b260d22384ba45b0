/**
 * Keeps trying to bring the host to the last assignments answer it holds, without waiting for the
 * next one. The control plane wakes a node's long-poll only for changes that concern it, so after a
 * failed pass (iptables lock, a `wg` hiccup, a port still held, a network still in use) the next
 * answer can be a whole long-poll wait away; meanwhile a task elsewhere cannot reach one here.
 *
 *   new answer ──► attempt ──ok──► done (backoff reset)
 *                    │ failed
 *                    └─► timer 0.5 s, 1 s, 2 s … 10 s ──► attempt the same answer again
 *   a newer answer cancels the timer and is attempted at once; an older attempt's outcome is dropped.
 */
import type { Logger } from '../protocol/log.ts';

export const RETRY_FIRST_MS = 500;
export const RETRY_MAX_MS = 10_000;

/** The delay before retry number `failures` (1 for the first): doubling from the first, capped. */
export function retryDelayMs(failures: number, firstMs = RETRY_FIRST_MS, maxMs = RETRY_MAX_MS): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

export interface ConvergenceRetryOptions<T> {
  /** Brings the host to `target`; rejects with what is not in place yet. */
  attempt: (target: T) => Promise<void>;
  log: Logger;
  /** What converges, for the log lines ("host networking"). */
  what: string;
}

export class ConvergenceRetry<T> {
  private target: { value: T; generation: number } | undefined;
  private generation = 0;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The message of the failure last logged: each distinct one is logged once, not on every retry. */
  private lastLogged: string | undefined;
  private stopped = false;

  constructor(private readonly opts: ConvergenceRetryOptions<T>) {}

  /** A newer target supersedes the held one and any retry pending for it; attempted now. */
  set(value: T): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.target = { value, generation: ++this.generation };
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.run(this.target);
  }

  /** Whether a retry is waiting on its timer. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(target: { value: T; generation: number }): Promise<void> {
    let error: Error | undefined;
    try {
      await this.opts.attempt(target.value);
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    }
    // A newer target was set meanwhile: its own attempt decides.
    if (this.stopped || target.generation !== this.generation) return;
    if (!error) {
      if (this.failures) this.opts.log.info(`${this.opts.what} converged after ${this.failures + 1} attempts`);
      this.failures = 0;
      this.lastLogged = undefined;
      return;
    }
    this.failures++;
    const delay = retryDelayMs(this.failures);
    if (error.message !== this.lastLogged) {
      this.lastLogged = error.message;
      this.opts.log.warn(`${this.opts.what} not converged; retrying with the last assignments`, { error, retryInMs: delay, attempts: this.failures });
    } else {
      this.opts.log.debug(`${this.opts.what} still not converged; retrying`, { error, retryInMs: delay, attempts: this.failures });
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.target === target && !this.stopped) void this.run(target);
    }, delay);
  }
}
