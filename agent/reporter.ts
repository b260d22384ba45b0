import type { TaskReport } from '../protocol/agent-api.ts';
import { Backoff, sleep } from './backoff.ts';
import { type ControlPlaneClient, ControlPlaneUnreachable, retryAfterOf } from './client.ts';
import { retryDelay, waitToRetry } from './outage.ts';
import type { Logger } from '../protocol/log.ts';

/**
 * Sends task state changes in batches, and an empty status request when nothing else went out for
 * half a heartbeat period: the control plane takes any request of the node's as its heartbeat, and
 * the long-poll, which asks for at most half a period, usually is one.
 */
export class StatusReporter {
  private queue: TaskReport[] = [];
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff(250, 5_000);
  private loop: Promise<void> | undefined;
  /** The control plane's heartbeat period; it says so in every assignments answer. */
  heartbeatMs: number;
  /** The index of the last answer the host has put in place, and the last the control plane was told. */
  private appliedIndex = 0;
  private appliedSent = 0;
  /** When this reporter's last request went out (another since, within half a period, was the heartbeat). */
  private sentAt = 0;

  constructor(
    private readonly opts: {
      client: ControlPlaneClient;
      log: Logger;
      heartbeatMs: number;
      /** A refusal no retry can fix (credential revoked or expired). */
      onRefused: (err: unknown) => void;
      isFatal: (err: unknown) => boolean;
      batchDelayMs?: number;
    },
  ) {
    this.heartbeatMs = opts.heartbeatMs;
  }

  report(r: TaskReport) {
    this.queue.push(r);
    this.wake?.();
  }

  /**
   * The host now routes as the answer at `index` says (names, VIP rules, routing mesh): told at
   * once, since a stopping backend on another host waits for every host to have let it go.
   */
  applied(index: number) {
    if (index <= this.appliedIndex) return;
    this.appliedIndex = index;
    this.wake?.();
  }

  start() {
    this.loop ??= this.run();
  }

  /** Sends what is queued, one last time, then stops. */
  async stop() {
    this.abort.abort();
    this.wake?.();
    await this.loop;
    if (this.queue.length) await this.send(this.queue.splice(0)).catch(() => undefined);
  }

  private async run() {
    while (!this.abort.signal.aborted) {
      // Half the period: one lost or slow request does not make the node miss a beat.
      if (!this.queue.length && this.appliedIndex === this.appliedSent) {
        await this.waitForWork(Math.max(200, this.heartbeatMs / 2));
        if (!this.queue.length && this.appliedIndex === this.appliedSent && this.heardRecently()) continue;
      }
      if (this.abort.signal.aborted) return;
      // A short pause lets the other changes of the same moment join the batch.
      if (this.queue.length) await sleep(this.opts.batchDelayMs ?? 50, this.abort.signal);
      const batch = this.queue.splice(0);
      const sent = (this.sentAt = Date.now());
      try {
        await this.send(batch);
        this.backoff.reset();
      } catch (err) {
        this.queue.unshift(...batch);
        if (this.opts.isFatal(err)) {
          this.opts.onRefused(err);
          return;
        }
        const unreachable = err instanceof ControlPlaneUnreachable;
        const delay = retryDelay(this.backoff, unreachable, Date.now() - sent, retryAfterOf(err));
        const fields = { error: err, reports: batch.length, retryInMs: Math.round(delay), failures: this.backoff.failures };
        // An outage is the client's one line; an error answer is repeated only now and then.
        if (!unreachable && (this.backoff.failures <= 1 || this.backoff.failures % 10 === 0)) this.opts.log.warn('status report failed; will retry', fields);
        else this.opts.log.debug('status report failed; will retry', fields);
        await waitToRetry(delay, this.abort.signal, unreachable ? this.opts.client.answeredAgain() : undefined);
      }
    }
  }

  /**
   * A request went out within (a little more than) half a period, a long-poll most often: the
   * control plane heard the node, and a heartbeat would say nothing (the poll's wait is jittered by
   * up to a sixteenth).
   */
  private heardRecently(): boolean {
    const { lastSentAt } = this.opts.client;
    return lastSentAt > this.sentAt && Date.now() - lastSentAt < Math.max(200, this.heartbeatMs / 2) * 1.125;
  }

  private waitForWork(ms: number) {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private async send(batch: TaskReport[]) {
    const applied = this.appliedIndex;
    const res = await this.opts.client.status(batch, this.abort.signal.aborted ? undefined : this.abort.signal, applied || undefined);
    this.appliedSent = applied;
    for (const r of res.results ?? []) {
      if (!r.ok) this.opts.log.warn('control plane refused a task report; dropped', { task: r.taskId, error: r.error });
    }
  }
}
