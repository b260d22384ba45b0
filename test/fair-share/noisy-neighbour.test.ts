import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longPollFlood, quietLatency, residentMiB, serviceBurst, startTwoTenants, type TwoTenants } from '../harness/noisy-tenant.ts';

/**
 * The findings of issue 11 item 4, on a real control plane process with its default limits: a
 * flood of long-polls from one node credential, and a burst of service creations by one tenant,
 * must not make another tenant wait. Asserted loosely (a shared 2-core machine); bench/fairness.ts
 * gives the figures.
 */
describe('one noisy tenant, one quiet one', () => {
  let t: TwoTenants;
  beforeAll(async () => {
    t = await startTwoTenants();
  }, 60_000);
  afterAll(async () => t?.close());

  it('2,000 long-polls from one node credential: all but a few are 429, and the quiet tenant stays fast', async () => {
    let flood: ReturnType<typeof longPollFlood> | undefined;
    const quiet = await quietLatency(t, () => (flood = longPollFlood(t, 2000)));
    const { answered, ms } = await flood!;
    console.log(`long-poll flood: ${JSON.stringify(answered)} in ${Math.round(ms)} ms; quiet GET /services p50 ${quiet.p50.toFixed(1)} ms, p99 ${quiet.p99.toFixed(1)} ms over ${quiet.count}; RSS ${residentMiB(t.cp).toFixed(0)} MiB`);
    // The node's burst of 100 and what its rate of 20 a second refills meanwhile get in (4 of them
    // may wait); the rest are refused at once, before any database read.
    const admitted = 100 + Math.ceil((20 * ms) / 1000);
    expect(answered[200] ?? 0).toBeLessThanOrEqual(admitted);
    expect(answered[429] ?? 0).toBe(2000 - (answered[200] ?? 0));
    // Loose, on a shared 2-core machine (bench/README.md): requests start in turns round the
    // credentials, so the quiet one's wait for the flood's 400 connections is one request of it,
    // not a whole poll's worth (0.3-0.4 s at load 10-14; 2.3-4.7 s before, 8 s before that).
    expect(quiet.p50).toBeLessThan(500);
    expect(quiet.p99).toBeLessThan(1500);
  }, 90_000);

  it('1,000 services created at once by one tenant: they take turns, the one past SERVICES_PER_CLUSTER is 400, and the quiet tenant is answered', async () => {
    let burst: ReturnType<typeof serviceBurst> | undefined;
    const quiet = await quietLatency(t, () => (burst = serviceBurst(t, 1000)));
    const { answered, ms } = await burst!;
    console.log(`service burst: ${JSON.stringify(answered)} in ${Math.round(ms)} ms; quiet GET /services p50 ${quiet.p50.toFixed(1)} ms, p99 ${quiet.p99.toFixed(1)} ms over ${quiet.count}`);
    // With the wake-up service of the test before, the 1,000th of the burst is past SERVICES_PER_CLUSTER.
    expect(answered[400] ?? 0).toBeLessThanOrEqual(1);
    expect((answered[201] ?? 0) + (answered[400] ?? 0)).toBe(1000);
    // Queued writes take turns with other requests (5.1 s before; about 0.5 s at load 20).
    expect(quiet.p50).toBeLessThan(500);
    expect(quiet.p99).toBeLessThan(2000);
  }, 120_000);
});
