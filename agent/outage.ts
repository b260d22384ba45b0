/**
 * What the agent does while the control plane cannot be reached: retry about every second, and
 * say so once per outage. A host cut off long enough to be marked down has superseded containers
 * still running; they stop only once it hears from the control plane again, so a healed link must
 * be found within a second, not after a 30 s backoff (the control plane answering with an error is
 * another matter: it is up but struggling, and the usual growing backoff spares it).
 */
import type { Logger } from '../protocol/log.ts';
import { type Backoff, sleep } from './backoff.ts';

/** Between attempts while unreachable: each sends a new SYN, which a healed link lets through. */
export const UNREACHABLE_RETRY_MS = 1_000;

/**
 * The wait before the next attempt. Unreachable: about a second (jittered) from when the failed
 * attempt began, so one that timed out after its connect timeout goes again at once. Answered
 * with an error: the backoff's own delay, and never less than the Retry-After the answer carried.
 */
export function retryDelay(backoff: Backoff, unreachable: boolean, attemptMs: number, retryAfterMs = 0): number {
  if (!unreachable) return Math.max(backoff.next(), retryAfterMs);
  return Math.max(0, backoff.next(UNREACHABLE_RETRY_MS) - attemptMs);
}

/**
 * Waits out a retry delay, but only until the control plane answers another request: the loops
 * (assignments, reports) retry on their own timers, and the first one through brings the others.
 */
export function waitToRetry(ms: number, signal: AbortSignal, answered?: Promise<void>): Promise<void> {
  return answered ? Promise.race([sleep(ms, signal), answered]) : sleep(ms, signal);
}

/** One warning when the control plane stops answering, one line when it answers again. */
export class OutageLog {
  private since: number | undefined;
  private failures = 0;
  private over: Promise<void> = Promise.resolve();
  private end: (() => void) | undefined;

  constructor(
    private readonly log: Logger | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get down(): boolean {
    return this.since !== undefined;
  }

  /** Resolves when the control plane next answers (at once when it is not known to be down). */
  answeredAgain(): Promise<void> {
    return this.over;
  }

  failed(err: unknown): void {
    this.failures++;
    if (this.since !== undefined) return;
    this.since = this.now();
    this.over = new Promise((resolve) => (this.end = resolve));
    this.log?.warn('control plane unreachable; retrying about every second', { error: err, retryEveryMs: UNREACHABLE_RETRY_MS });
  }

  /** Any answer, even an error status: the control plane is there. */
  answered(): void {
    if (this.since === undefined) return;
    this.log?.info('control plane reachable again', { downMs: this.now() - this.since, failedRequests: this.failures });
    this.since = undefined;
    this.failures = 0;
    this.end?.();
  }
}
