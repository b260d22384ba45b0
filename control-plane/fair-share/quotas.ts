/**
 * Limits on what a cluster keeps stored, counted in the database inside the transaction that would
 * add to it, so they hold across instances and a refused write leaves nothing behind.
 */
import { and, count, eq, gt, isNull, min, or, sql } from 'drizzle-orm';
import type { Tx } from '../db/database.ts';
import { joinTokens, logChunks, logRequests, services } from '../db/schema/index.ts';
import { invalid, rateLimited } from '../errors.ts';

/**
 * Room for `bytes` more log bytes of the cluster. Readers delete what they sent and chunks expire,
 * so the room comes back within moments while someone reads: a 429 the agent retries.
 */
export async function assertLogRoom(tx: Tx, clusterId: string, bytes: number, limit: number): Promise<void> {
  if (limit <= 0) return;
  const [row] = await tx
    .select({ stored: sql<number>`coalesce(sum(length(${logChunks.data})), 0)` })
    .from(logChunks)
    .innerJoin(logRequests, eq(logRequests.id, logChunks.requestId))
    .where(eq(logRequests.clusterId, clusterId));
  const stored = Number(row?.stored ?? 0);
  if (stored + bytes > limit) {
    throw rateLimited(`too many log bytes stored: this swarm's readers have ${stored} bytes waiting (at most ${limit}); retry once they have read them`, 1000);
  }
}

/** Room for one more live join token: one that is not spent, revoked or expired. */
export async function assertJoinTokenRoom(tx: Tx, clusterId: string, now: number, limit: number): Promise<void> {
  if (limit <= 0) return;
  const live = and(
    eq(joinTokens.clusterId, clusterId),
    isNull(joinTokens.revokedAt),
    gt(joinTokens.expiresAt, now),
    or(eq(joinTokens.singleUse, false), isNull(joinTokens.usedAt)),
  );
  const [row] = await tx.select({ n: count(), soonest: min(joinTokens.expiresAt) }).from(joinTokens).where(live);
  if ((row?.n ?? 0) < limit) return;
  // One frees when it is spent or revoked, or at the latest when the soonest expires.
  throw rateLimited(`too many live join tokens: this swarm has ${row!.n} (at most ${limit}); revoke unused ones or wait until one expires`, (row!.soonest ?? now) - now);
}

/** Room for one more service: a count the user sets by removing services, so waiting cannot help (400). */
export async function assertServiceRoom(tx: Tx, clusterId: string, limit: number): Promise<void> {
  if (limit <= 0) return;
  const [row] = await tx.select({ n: count() }).from(services).where(eq(services.clusterId, clusterId));
  if ((row?.n ?? 0) >= limit) throw invalid(`too many services: this swarm has ${row!.n} (at most ${limit}); remove services it no longer needs`);
}
