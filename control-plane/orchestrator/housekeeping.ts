import { and, eq, isNotNull, lt, or } from 'drizzle-orm';
import type { Tx } from '../db/database.ts';
import { joinTokens } from '../db/schema/index.ts';
import type { Config } from '../config.ts';
import { dropExpiredEvents } from '../events/record.ts';
import { dropExpiredLogs } from '../log-relay/index.ts';

/**
 * Deletes what no decision needs any more: join tokens long expired, revoked or spent (kept a while
 * to explain a refused join), log requests and chunks past their expiry, and events older than
 * `--since` reaches. Runs in the leader's fenced transactions, a few times an hour, so these tables
 * stay the size of what is live.
 */
export async function dropExpiredRows(
  tx: Tx,
  clusterId: string,
  now: number,
  retention: Pick<Config, 'joinTokenRetentionMs' | 'eventsRetentionMs'>,
): Promise<void> {
  const before = now - retention.joinTokenRetentionMs;
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
  await dropExpiredEvents(tx, clusterId, now - retention.eventsRetentionMs);
}
