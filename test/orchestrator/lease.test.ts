import { eq, sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admitNode } from '../../control-plane/agent-api/join.ts';
import { joinTokens, tasks } from '../../control-plane/db/schema/index.ts';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { acquireLease, assertLease, type Lease, LeaseLost, readLease, releaseLease } from '../../control-plane/orchestrator/lease.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { eventually } from '../harness/docker-cli.ts';
import { nodeInfo } from '../harness/sim-agent.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

describe('leader lease', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ env: { LEASE_TTL_MS: '60000', LEASE_RENEW_MS: '20000', LEASE_RETRY_MS: '500' } });
  });
  afterEach(() => t.close());

  /** Ends the lease now, as the passing of its TTL would. */
  const expire = () => t.deps.database.db.run(sql`update leases set expires_at = 0`);

  it('is acquired at epoch 1, renewed by its holder at the same epoch, refused to others while valid', async () => {
    const db = t.deps.database;
    expect(await acquireLease(db, 'a', 10_000)).toMatchObject({ holder: 'a', epoch: 1 });
    expect(await acquireLease(db, 'a', 10_000)).toMatchObject({ holder: 'a', epoch: 1 });
    expect(await acquireLease(db, 'b', 10_000)).toBeUndefined();
    expect(await readLease(db)).toMatchObject({ holder: 'a', epoch: 1 });
  });

  it('passes to another instance once expired, at a higher epoch; the old holder then starts a new epoch too', async () => {
    const db = t.deps.database;
    await acquireLease(db, 'a', 10_000);
    await expire();
    expect(await acquireLease(db, 'b', 10_000)).toMatchObject({ holder: 'b', epoch: 2 });
    await expire();
    expect(await acquireLease(db, 'b', 10_000)).toMatchObject({ holder: 'b', epoch: 3 });
    await releaseLease(db, 'b');
    expect(await acquireLease(db, 'a', 10_000)).toMatchObject({ holder: 'a', epoch: 4 });
  });

  it('fences: a write under a lost epoch rolls back whole', async () => {
    const db = t.deps.database;
    const old = (await acquireLease(db, 'a', 10_000))!;
    await expire();
    await acquireLease(db, 'b', 10_000);
    const before = await readLease(db);
    const write = db.write(async (tx) => {
      await tx.run(sql`update leases set holder = 'vandal'`); // would corrupt, if it committed
      await assertLease(tx, old.holder, old.epoch);
    });
    await expect(write).rejects.toBeInstanceOf(LeaseLost);
    expect(await readLease(db)).toEqual(before);
    // The holder of the current epoch passes; an expired current lease does not.
    await db.write((tx) => assertLease(tx, 'b', 2));
    await expire();
    await expect(db.write((tx) => assertLease(tx, 'b', 2))).rejects.toBeInstanceOf(LeaseLost);
  });

  it('a leader whose lease was taken while it still believed it led places nothing', async () => {
    const token = await t.deps.database.db.query.joinTokens.findFirst({ where: eq(joinTokens.clusterId, t.clusterId) });
    await t.deps.database.write((tx) => admitNode(tx, { clusterId: t.clusterId, jti: token!.jti, info: nodeInfo(), now: Date.now() }));
    const leadership: Array<Lease | undefined> = [];
    const commits: Array<{ epoch: number; placed: number }> = [];
    const loop = new LeaderLoop(t.deps, {
      onLeadership: (l) => leadership.push(l),
      onCommit: (c) => commits.push(c),
    });
    loop.start();
    try {
      await eventually(async () => loop.isLeader, 5000, 20);
      const first = await t.request('POST', '/services/create', serviceSpec('before', { replicas: 2 }));
      expect(first.status).toBe(201);
      await eventually(async () => commits.some((c) => c.placed === 2), 5000, 20);

      // Another instance takes the lease (as after a pause); this loop's own deadline has not passed.
      await t.deps.database.write((tx) => tx.run(sql`update leases set holder = 'other', epoch = epoch + 1, expires_at = expires_at + 60000`));
      expect(loop.isLeader).toBe(true);
      const committed = commits.length;
      const res = await t.request('POST', '/services/create', serviceSpec('after', { replicas: 2 }));
      const { ID } = (await res.json()) as { ID: string };

      // Its next pass finds the epoch gone in its own transaction: it steps down, having written nothing.
      await eventually(async () => leadership.at(-1) === undefined && leadership.length > 1, 5000, 20);
      expect(loop.isLeader).toBe(false);
      expect(commits.length).toBe(committed);
      const rows = await t.deps.database.db.select().from(tasks).where(eq(tasks.serviceId, ID));
      expect(rows.map((r) => r.state)).toEqual(['pending', 'pending']);
    } finally {
      await loop.stop();
    }
    // It did not release a lease it no longer holds.
    expect(await readLease(t.deps.database)).toMatchObject({ holder: 'other' });
  });
});
