import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backoff } from '../../agent/backoff.ts';
import { ControlPlaneClient, ControlPlaneError, retryAfterMsOf } from '../../agent/client.ts';
import { retryDelay } from '../../agent/outage.ts';

/** A server answering every request as the control plane answers a node past its rate. */
const server = createServer((_req, res) => {
  res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '3' });
  res.end(JSON.stringify({ message: 'too many requests: a node may send 20 requests a second (bursts of 100); slow down and retry', code: 'rate_limited' }));
});
let client: ControlPlaneClient;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new ControlPlaneClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await client.close();
  server.close();
});

describe('the agent and a 429', () => {
  it('reads Retry-After from the answer and waits at least that long before the next attempt', async () => {
    const err = await client.status([]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    const refusal = err as ControlPlaneError;
    expect(refusal).toMatchObject({ status: 429, code: 'rate_limited', retryAfterMs: 3000, retryable: true });
    // The backoff alone would wait 250–500 ms here.
    for (let i = 0; i < 20; i++) expect(retryDelay(new Backoff(500, 30_000), false, 10, refusal.retryAfterMs)).toBeGreaterThanOrEqual(3000);
  });

  it('takes delta-seconds, ignores what it cannot read, and caps a wild value', () => {
    expect(retryAfterMsOf('2')).toBe(2000);
    expect(retryAfterMsOf(undefined)).toBe(0);
    expect(retryAfterMsOf('Wed, 21 Oct 2015 07:28:00 GMT')).toBe(0);
    expect(retryAfterMsOf('999999')).toBe(300_000);
  });
});
