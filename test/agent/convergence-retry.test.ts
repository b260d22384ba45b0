import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConvergenceRetry, retryDelayMs } from '../../agent/convergence-retry.ts';
import type { Logger } from '../../protocol/log.ts';

/** A host whose applies fail with the given messages in turn ('' succeeds), then succeed. */
function flakyHost(messages: string[]) {
  const attempts: Array<{ target: string; at: number }> = [];
  const failures = [...messages];
  const attempt = async (target: string) => {
    attempts.push({ target, at: Date.now() });
    const message = failures.shift();
    if (message) throw new Error(message);
  };
  return { attempts, attempt };
}

function recordingLog() {
  const lines: Array<{ level: string; msg: string; error?: string }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push({ level, msg, error: (fields?.error as Error | undefined)?.message });
  const log: Logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  return { lines, log };
}

describe('the retry schedule of a failed host convergence', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('doubles from 0.5 s to a 10 s cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelayMs(n))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  });

  it('retries the held target on its own timer until it converges, with no new target', async () => {
    const host = flakyHost(['iptables: lock', 'iptables: lock', 'wg: busy', 'wg: busy', 'wg: busy', 'wg: busy']);
    const { lines, log } = recordingLog();
    const retry = new ConvergenceRetry({ attempt: host.attempt, log, what: 'host networking' });
    const start = Date.now();
    await retry.set('answer 7');
    await vi.advanceTimersByTimeAsync(60_000);
    // 1 + 6 retries: after 0.5, 1, 2, 4, 8 and 10 s.
    expect(host.attempts.map((a) => a.target)).toEqual(Array(7).fill('answer 7'));
    expect(host.attempts.map((a) => a.at - start)).toEqual([0, 500, 1_500, 3_500, 7_500, 15_500, 25_500]);
    expect(retry.pending).toBe(false);
    // Each distinct failure warned once, the repeats at debug, and one line when it converged.
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.error)).toEqual(['iptables: lock', 'wg: busy']);
    expect(lines.filter((l) => l.level === 'debug')).toHaveLength(4);
    expect(lines.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual(['host networking converged after 7 attempts']);
  });

  it('starts again from 0.5 s after a success', async () => {
    const host = flakyHost(['a', 'a', 'a', '', 'b']);
    const retry = new ConvergenceRetry({ attempt: host.attempt, log: recordingLog().log, what: 'x' });
    const start = Date.now();
    await retry.set('one');
    await vi.advanceTimersByTimeAsync(20_000);
    await retry.set('two');
    await vi.advanceTimersByTimeAsync(20_000);
    // 'two' failed once: its retry waits 0.5 s, not the 8 s the fourth failure in a row would.
    expect(host.attempts.map((a) => [a.target, a.at - start])).toEqual([['one', 0], ['one', 500], ['one', 1_500], ['one', 3_500], ['two', 20_000], ['two', 20_500]]);
  });

  it('drops a pending retry when a newer target comes, and attempts the newer one at once', async () => {
    const attempts: Array<{ target: string; at: number }> = [];
    const retry = new ConvergenceRetry({
      attempt: async (target: string) => {
        attempts.push({ target, at: Date.now() });
        if (target === 'old') throw new Error('pass failed');
      },
      log: recordingLog().log,
      what: 'host networking',
    });
    const start = Date.now();
    await retry.set('old');
    await vi.advanceTimersByTimeAsync(600); // one retry of 'old' at 500 ms, the next due at 1 500 ms
    expect(retry.pending).toBe(true);
    await retry.set('new');
    expect(retry.pending).toBe(false);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(attempts.map((a) => [a.target, a.at - start])).toEqual([['old', 0], ['old', 500], ['new', 600]]);
  });

  it('ignores the outcome of an attempt a newer target overtook', async () => {
    let release!: () => void;
    const attempts: string[] = [];
    const retry = new ConvergenceRetry({
      attempt: (target: string) => {
        attempts.push(target);
        // The old pass fails only after the new answer came in.
        return target === 'old' ? new Promise<void>((_, reject) => (release = () => reject(new Error('late failure')))) : Promise.resolve();
      },
      log: recordingLog().log,
      what: 'host networking',
    });
    const old = retry.set('old');
    await retry.set('new');
    release();
    await old;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(attempts).toEqual(['old', 'new']);
    expect(retry.pending).toBe(false);
  });

  it('stops retrying once stopped', async () => {
    const host = flakyHost(Array(100).fill('down'));
    const retry = new ConvergenceRetry({ attempt: host.attempt, log: recordingLog().log, what: 'x' });
    await retry.set('t');
    await vi.advanceTimersByTimeAsync(1_000);
    retry.stop();
    const seen = host.attempts.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(host.attempts).toHaveLength(seen);
  });
});
