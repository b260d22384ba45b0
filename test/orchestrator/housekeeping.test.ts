import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinTokens } from '../../control-plane/db/schema/index.ts';
import { dropExpiredRows } from '../../control-plane/orchestrator/housekeeping.ts';
import { issueJoinToken, rotateJoinToken } from '../../control-plane/swarm/clusters.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';

const DAY = 24 * 3600_000;

describe('housekeeping', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('drops join tokens long revoked, spent or expired, and keeps current and recent ones', async () => {
    const { database } = t.deps;
    const now = Date.now();
    const ids = await database.write(async (tx) => {
      await rotateJoinToken(tx, t.clusterId, 'worker', now - 2 * DAY, DAY); // revokes the first worker token 2 days ago
      const expired = await issueJoinToken(tx, t.clusterId, 'worker', now - 3 * DAY, DAY, false, true);
      const spent = await issueJoinToken(tx, t.clusterId, 'worker', now - 3 * DAY, 10 * DAY, false, true);
      await tx.update(joinTokens).set({ usedAt: now - 2 * DAY }).where(eq(joinTokens.jti, spent));
      const fresh = await issueJoinToken(tx, t.clusterId, 'worker', now, DAY, false, true);
      const justRevoked = await issueJoinToken(tx, t.clusterId, 'worker', now, DAY, false, false);
      await tx.update(joinTokens).set({ revokedAt: now - 1000 }).where(eq(joinTokens.jti, justRevoked));
      return { expired, spent, fresh, justRevoked };
    });
    const before = await database.db.select().from(joinTokens).where(eq(joinTokens.clusterId, t.clusterId));
    await database.write((tx) => dropExpiredRows(tx, t.clusterId, now, t.config));
    const after = await database.db.select().from(joinTokens).where(eq(joinTokens.clusterId, t.clusterId));
    const left = new Set(after.map((r) => r.jti));

    expect(left.has(ids.expired)).toBe(false);
    expect(left.has(ids.spent)).toBe(false);
    expect(left.has(ids.fresh)).toBe(true);
    expect(left.has(ids.justRevoked)).toBe(true);
    // The tokens `docker swarm join-token` prints are never dropped, however old.
    expect(after.filter((r) => r.current).map((r) => r.role).sort()).toEqual(['manager', 'worker']);
    expect(before.length - after.length).toBe(3); // expired, spent, and the worker token rotated away
    const swarm = await (await t.request('GET', '/swarm')).json();
    expect(swarm.JoinTokens.Worker).toMatch(/^ey/);
  });
});
