import { and, eq, isNotNull, lt, or } from 'drizzle-orm';
import type { Tx } from '../db/database.ts';
import { joinTokens } from '../db/schema/index.ts';
import { dropExpiredLogs } from '../log-relay/index.ts';

/**
 * Deletes what no decision needs any more: join tokens long expired, revoked or spent, and log
 * requests and chunks past their expiry. Runs in the leader's fenced transactions, a few times an
 * hour, so these tables stay the size of what is live.
 */
/** `tokenRetentionMs`: how long a spent, revoked or expired join token's row is kept (to explain a refused join). */
export async function dropExpiredRows(tx: Tx, clusterId: string, now: number, tokenRetentionMs: number): Promise<void> {
  const before = now - tokenRetentionMs;
  await tx
    .delete(joinTokens)
    .where(
      and(
        eq(joinTokens.clusterId, clusterId),
        eq(joinTokens.current, false),
        or(lt(joinTokens.expiresAt, before), lt(joinTokens.revokedAt, before), and(isNotNull(joinTokens.usedAt), lt(joinTokens.usedAt, before))),
      ),
    );
  await dropExpiredLogs(tx, clusterId, now);
}
