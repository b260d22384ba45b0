/** The agent while the control plane is away: retry timing, one log line per outage, request deadlines. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff } from '../../agent/backoff.ts';
import { ControlPlaneClient, ControlPlaneUnreachable, REQUEST_DEADLINE_MS } from '../../agent/client.ts';
import { OutageLog, retryDelay, UNREACHABLE_RETRY_MS, waitToRetry } from '../../agent/outage.ts';
import type { Logger } from '../../protocol/log.ts';

function recordingLog() {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
  return { log, lines };
}

describe('retryDelay', () => {
  it('while unreachable: at most about a second from the start of the failed attempt, however many failures', () => {
    const backoff = new Backoff(500, 30_000);
    for (let i = 0; i < 50; i++) {
      const delay = retryDelay(backoff, true, 0);
      expect(delay).toBeGreaterThanOrEqual(250);
      expect(delay).toBeLessThanOrEqual(UNREACHABLE_RETRY_MS);
    }
    // An attempt that waited out its connect timeout goes again at once.
    expect(retryDelay(backoff, true, 1_000)).toBe(0);
  });

  it('the control plane answering with an error: the backoff grows as before', () => {
    const backoff = new Backoff(500, 30_000);
    const delays = Array.from({ length: 12 }, () => retryDelay(backoff, false, 0));
    expect(Math.max(...delays)).toBeGreaterThan(UNREACHABLE_RETRY_MS);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
  });
});

describe('OutageLog', () => {
  it('says once that the control plane is gone and once that it is back, with how long', () => {
    let now = 1_000;
    const { log, lines } = recordingLog();
    const outage = new OutageLog(log, () => now);
    outage.answered();
    for (let i = 0; i < 30; i++) {
      outage.failed(new Error('timeout'));
      now += 1_000;
    }
    expect(outage.down).toBe(true);
    outage.answered();
    outage.answered();
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'control plane unreachable; retrying about every second'],
      ['info', 'control plane reachable again'],
    ]);
    expect(lines[1]!.fields).toEqual({ downMs: 30_000, failedRequests: 30 });
    expect(outage.down).toBe(false);
  });

  it('a retry waiting out its delay goes as soon as another request got an answer', async () => {
    const outage = new OutageLog(undefined);
    outage.failed(new Error('timeout'));
    const started = Date.now();
    const waiting = waitToRetry(5_000, new AbortController().signal, outage.answeredAgain());
    setTimeout(() => outage.answered(), 50);
    await waiting;
    expect(Date.now() - started).toBeLessThan(1_000);
    // Not down: nothing to wait for.
    await outage.answeredAgain();
  });
});

describe('ControlPlaneClient deadlines', () => {
  const held: ServerResponse[] = [];
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    for (const res of held.splice(0)) res.destroy();
    await close?.();
  });

  /**
   * A control plane that takes every request and never answers (a stalled connection, as far as the
   * client can tell) until `answering.on` is set; from then on it answers new requests.
   */
  const answering = { on: false };
  async function silentControlPlane(): Promise<string> {
    answering.on = false;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (!answering.on) return void held.push(res);
      const body = req.url?.includes('/assignments') ? { index: 2, nodeId: 'n1', heartbeatPeriodMs: 1000, tasks: [] } : { results: [] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    close = () => new Promise((resolve) => server.close(() => resolve()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('gives up on a status report after its deadline, and takes the hanging long-poll down with it', async () => {
    const { log, lines } = recordingLog();
    const client = new ControlPlaneClient(await silentControlPlane(), { log });
    const started = Date.now();
    const longPoll = client.assignments(7, 60_000).then(
      () => 'answered',
      (err: unknown) => err,
    );
    await expect(client.status([])).rejects.toThrow(ControlPlaneUnreachable);
    const failedAfter = Date.now() - started;
    expect(failedAfter).toBeGreaterThanOrEqual(REQUEST_DEADLINE_MS - 50);
    expect(failedAfter).toBeLessThan(REQUEST_DEADLINE_MS + 1_000);
    // The long-poll would have waited a minute on the same path; it fails now, so its loop retries.
    const polled = await longPoll;
    expect(polled).toBeInstanceOf(ControlPlaneUnreachable);
    expect(Date.now() - started).toBeLessThan(REQUEST_DEADLINE_MS + 1_000);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    await client.close();
  }, 10_000);

  it('sends again at once a request still waiting when another one gets through after an outage', async () => {
    const { log, lines } = recordingLog();
    const client = new ControlPlaneClient(await silentControlPlane(), { log });
    await expect(client.status([])).rejects.toThrow(ControlPlaneUnreachable);
    // Sent during the outage, and stuck (as one whose SYN a partition dropped would be).
    const longPoll = client.assignments(1, 60_000);
    await new Promise((r) => setTimeout(r, 200));
    answering.on = true;
    const healed = Date.now();
    await client.status([]);
    expect((await longPoll).index).toBe(2);
    expect(Date.now() - healed).toBeLessThan(1_000);
    expect(lines.map((l) => l.msg)).toEqual(['control plane unreachable; retrying about every second', 'control plane reachable again']);
    await client.close();
  }, 10_000);
});
