import { describe, expect, it } from 'vitest';
import { heartbeatPeriodFor, PeriodsInForce } from '../../control-plane/orchestrator/heartbeat-period.ts';
import { createTestApp, joinInProcess } from '../harness/app.ts';

const heartbeat = { periodMs: 2000, misses: 3, perSecond: 50 };

describe('heartbeat period by cluster size', () => {
  it('keeps the configured period up to the cap, then grows so the cluster beats perSecond times a second', () => {
    expect(heartbeatPeriodFor(heartbeat, 1)).toBe(2000);
    expect(heartbeatPeriodFor(heartbeat, 100)).toBe(2000);
    expect(heartbeatPeriodFor(heartbeat, 101)).toBe(2020);
    expect(heartbeatPeriodFor(heartbeat, 1000)).toBe(20_000);
    expect(heartbeatPeriodFor(heartbeat, 10_000)).toBe(200_000);
    expect(heartbeatPeriodFor({ ...heartbeat, perSecond: 0 }, 10_000)).toBe(2000);
  });

  it('keeps a longer period in force after the cluster shrank, until every agent can have heard the shorter one', () => {
    const hold = 30_000;
    const periods = new PeriodsInForce(hold);
    expect(periods.observe(heartbeat, 'c', 1000, 0)).toBe(20_000);
    // 900 nodes removed: agents still beat every 20 s until their next answer.
    expect(periods.observe(heartbeat, 'c', 100, 1000)).toBe(20_000);
    expect(periods.observe(heartbeat, 'c', 100, 0 + hold + 60_000 - 1)).toBe(20_000);
    expect(periods.observe(heartbeat, 'c', 100, hold + 60_000 + 1)).toBe(2000);
    // Growing takes effect at once; other clusters are apart.
    expect(periods.observe(heartbeat, 'c', 2000, hold + 60_001)).toBe(40_000);
    expect(periods.observe(heartbeat, 'd', 10, 0)).toBe(2000);
  });

  it('hands agents the period of their cluster in the join answer and every assignments answer', async () => {
    // One period per second: the third node makes it 3 s.
    const t = await createTestApp({ env: { HEARTBEAT_PERIOD_MS: '2000', HEARTBEATS_PER_SEC: '1' } });
    try {
      const [a] = [await joinInProcess(t, { hostname: 'a' }), await joinInProcess(t, { hostname: 'b' })];
      const third = await t.app.request('http://cp.test/agent/v1/join', {
        method: 'POST',
        body: JSON.stringify({
          token: (await (await t.request('GET', '/swarm')).json()).JoinTokens.Worker,
          node: { hostname: 'c', nanoCpus: 1e9, memoryBytes: 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '10.1.0.3' },
        }),
      });
      expect((await third.json()).heartbeatPeriodMs).toBe(3000);
      const answer = await (await a!.agentRequest('GET', '/assignments?index=0')).json();
      expect(answer.heartbeatPeriodMs).toBe(3000);
    } finally {
      t.close();
    }
  });
});
