import { eq, sql } from 'drizzle-orm';
import type { Database, Tx } from '../db/database.ts';
import { leases } from '../db/schema/index.ts';

export const LEADER_LEASE = 'orchestrator';

export interface Lease {
  holder: string;
  epoch: number;
  expiresAt: number;
}

/** Raised inside a leader's transaction when its lease is gone: the transaction rolls back. */
export class LeaseLost extends Error {
  constructor(readonly epoch: number) {
    super(`leader lease lost (epoch ${epoch})`);
    this.name = 'LeaseLost';
  }
}

// Expiry is judged on the database's clock, the one every instance shares.
export const dbNow = sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;

/**
 * Acquires or renews the lease in one write transaction. The epoch rises whenever the holder
 * changes. Returns the lease when this instance holds it, undefined otherwise.
 */
export async function acquireLease(database: Database, holder: string, ttlMs: number): Promise<Lease | undefined> {
  return database.write(async (tx) => {
    const [{ now }] = (await tx.all<{ now: number }>(sql`select ${dbNow} as now`)) as [{ now: number }];
    const current = await tx.query.leases.findFirst({ where: eq(leases.name, LEADER_LEASE) });
    const expiresAt = now + ttlMs;
    if (!current) {
      await tx.insert(leases).values({ name: LEADER_LEASE, holder, epoch: 1, expiresAt, acquiredAt: now });
      return { holder, epoch: 1, expiresAt };
    }
    if (current.holder === holder && current.expiresAt > now) {
      await tx.update(leases).set({ expiresAt }).where(eq(leases.name, LEADER_LEASE));
      return { holder, epoch: current.epoch, expiresAt };
    }
    if (current.expiresAt > now) return undefined;
    // Expired: taken over (even by its old holder, which then starts a new epoch, since it may
    // have missed writes while its lease was gone).
    const epoch = current.epoch + 1;
    await tx.update(leases).set({ holder, epoch, expiresAt, acquiredAt: now }).where(eq(leases.name, LEADER_LEASE));
    return { holder, epoch, expiresAt };
  });
}

/** Fencing: every leader write calls this first, in its own transaction. */
export async function assertLease(tx: Tx, holder: string, epoch: number): Promise<void> {
  const rows = await tx.all<{ ok: number }>(
    sql`select 1 as ok from leases where name = ${LEADER_LEASE} and holder = ${holder} and epoch = ${epoch} and expires_at > ${dbNow}`,
  );
  if (!rows.length) throw new LeaseLost(epoch);
}

export async function releaseLease(database: Database, holder: string): Promise<void> {
  await database.write((tx) => tx.update(leases).set({ expiresAt: 0 }).where(sql`name = ${LEADER_LEASE} and holder = ${holder}`));
}

export async function readLease(database: Database): Promise<Lease | undefined> {
  return database.db.query.leases.findFirst({ where: eq(leases.name, LEADER_LEASE) });
}
