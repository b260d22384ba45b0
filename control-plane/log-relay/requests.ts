/** log_requests rows: what a node's long-poll sees of them, and their expiry. */
import { and, eq, gt, inArray, isNull, lte, sql } from 'drizzle-orm';
import type { Reader, Tx } from '../db/database.ts';
import { logChunks, logRequests } from '../db/schema/index.ts';
import type { LogRequest } from '../../protocol/agent-api.ts';

/** The highest index of a change to this node's log requests (created or closed early). */
export async function logRequestsIndex(db: Reader, clusterId: string, nodeId: string): Promise<number> {
  const [row] = await db
    .select({ index: sql<number | null>`max(max(${logRequests.createdIndex}, coalesce(${logRequests.closedIndex}, 0)))` })
    .from(logRequests)
    .where(and(eq(logRequests.nodeId, nodeId), eq(logRequests.clusterId, clusterId)));
  return row?.index ?? 0;
}

/** The requests this node should be serving now. */
export async function nodeLogRequests(db: Reader, clusterId: string, nodeId: string, now = Date.now()): Promise<LogRequest[]> {
  const rows = await db
    .select()
    .from(logRequests)
    .where(
      and(
        eq(logRequests.nodeId, nodeId),
        eq(logRequests.clusterId, clusterId),
        isNull(logRequests.closedAt),
        isNull(logRequests.doneAt),
        gt(logRequests.expiresAt, now),
      ),
    );
  return rows.map((r) => ({
    id: r.id,
    taskIds: r.taskIds,
    follow: r.follow,
    tail: r.tail ?? 'all',
    timestamps: r.timestamps,
    ...(r.since !== null ? { since: r.since } : {}),
  }));
}

/** Deletes the cluster's expired log requests and every expired chunk. */
export async function dropExpiredLogs(tx: Tx, clusterId: string, now: number): Promise<void> {
  const expired = tx
    .select({ id: logRequests.id })
    .from(logRequests)
    .where(and(eq(logRequests.clusterId, clusterId), lte(logRequests.expiresAt, now)));
  await tx.delete(logChunks).where(inArray(logChunks.requestId, expired));
  await tx.delete(logChunks).where(lte(logChunks.expiresAt, now));
  await tx.delete(logRequests).where(and(eq(logRequests.clusterId, clusterId), lte(logRequests.expiresAt, now)));
}
