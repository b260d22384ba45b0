/**
 * log_requests rows: how a client's stream asks nodes for logs and lets them go, what a node's
 * long-poll sees of them, and their expiry.
 */
import { and, eq, gt, inArray, isNull, lte, ne, sql } from 'drizzle-orm';
import { writeCluster } from '../app-env.ts';
import type { AppDeps } from '../deps.ts';
import { alsoEq, bumpIndex, inIds, type Reader, type Tx } from '../db/database.ts';
import { logChunks, logRequests, nodes, tasks, type TaskState } from '../db/schema/index.ts';
import { newId } from '../ids.ts';
import type { LogRequest } from '../../protocol/agent-api.ts';
import type { LogOptions } from './options.ts';
import { groupBy } from '../group-by.ts';

/** Tasks that may have a container on their node, and so logs. */
const WITH_CONTAINER: TaskState[] = ['preparing', 'starting', 'running', 'complete', 'shutdown', 'failed'];
/** Tasks a follow picks up after it began: their container surely exists by now. */
export const STARTED: TaskState[] = ['running', 'complete', 'shutdown', 'failed'];

/** Whose logs a client wants: a whole service's (`docker service logs`) or one task's. */
export type LogScope = { serviceId: string } | { taskId: string };

export interface TaskOnNode {
  id: string;
  nodeId: string;
  hostname: string;
}

/** A request this instance made and serves a client from. */
export interface OpenRequest {
  id: string;
  nodeId: string;
  hostname: string;
  taskIds: string[];
}

/** A service's (or one task's) tasks that may have logs, with their node; down nodes cannot answer. */
export function tasksWithLogs(db: Reader, clusterId: string, scope: LogScope, states = WITH_CONTAINER): Promise<TaskOnNode[]> {
  return db
    // The node's id from the join: the same value as the task's, and known not to be null.
    .select({ id: tasks.id, nodeId: nodes.id, hostname: nodes.hostname })
    .from(tasks)
    .innerJoin(nodes, eq(nodes.id, tasks.nodeId))
    .where(
      and(
        eq(tasks.clusterId, clusterId),
        'serviceId' in scope ? eq(tasks.serviceId, scope.serviceId) : eq(tasks.id, scope.taskId),
        inArray(tasks.state, states),
        ne(nodes.state, 'down'),
      ),
    )
    .orderBy(tasks.slot, tasks.createdAt);
}

/** One request per node holding some of the tasks, written with an index bump so each node's long-poll returns at once. */
export async function askNodes(deps: AppDeps, clusterId: string, serviceId: string, taskRows: TaskOnNode[], opts: LogOptions): Promise<OpenRequest[]> {
  const byNode = new Map<string, OpenRequest>();
  for (const t of taskRows) {
    let r = byNode.get(t.nodeId);
    if (!r) byNode.set(t.nodeId, (r = { id: newId(), nodeId: t.nodeId, hostname: t.hostname, taskIds: [] }));
    r.taskIds.push(t.id);
  }
  const requests = [...byNode.values()];
  if (requests.length === 0) return requests;
  const now = deps.now();
  await writeCluster(deps, clusterId, async (tx) => {
    await dropExpiredLogs(tx, clusterId, now);
    const index = await bumpIndex(tx, clusterId);
    await tx.insert(logRequests).values(
      requests.map((r) => ({
        id: r.id,
        clusterId,
        nodeId: r.nodeId,
        serviceId,
        taskIds: r.taskIds,
        follow: opts.follow,
        tail: opts.tail,
        timestamps: opts.timestamps,
        since: opts.since,
        createdIndex: index,
        expiresAt: now + deps.config.logRelay.requestTtlMs,
        createdAt: now,
      })),
    );
  });
  return requests;
}

/** Those of the requests whose node has not yet sent everything. */
export async function unfinishedIds(db: Reader, ids: string[]): Promise<Set<string>> {
  const rows = await db
    .select({ id: logRequests.id })
    .from(logRequests)
    .where(and(inArray(logRequests.id, ids), isNull(logRequests.doneAt)));
  return new Set(rows.map((r) => r.id));
}

/** Keeps the requests alive while their client stays, and drops the chunks it was sent (ids up to `sentUpTo`). */
export async function renewRequests(deps: AppDeps, ids: string[], sentUpTo: number, now: number): Promise<void> {
  await deps.database.write(async (tx) => {
    await tx
      .update(logRequests)
      .set({ expiresAt: now + deps.config.logRelay.requestTtlMs })
      .where(and(inArray(logRequests.id, ids), isNull(logRequests.closedAt)));
    await tx.delete(logChunks).where(and(inArray(logChunks.requestId, ids), lte(logChunks.id, sentUpTo)));
  });
}

/**
 * Ends a client's requests. Those a node still serves are closed with an index bump, so the agent's
 * long-poll returns and it stops; finished ones are deleted without waking anyone.
 */
export async function closeRequests(deps: AppDeps, clusterId: string, ids: string[]): Promise<void> {
  const now = deps.now();
  // When the read fails, every request is taken for open: closing one too many only wakes its node.
  const unfinished = await unfinishedIds(deps.database.db, ids).catch(() => new Set(ids));
  const open = ids.filter((id) => unfinished.has(id));
  const done = ids.filter((id) => !unfinished.has(id));
  const write = async (tx: Tx) => {
    await tx.delete(logChunks).where(inArray(logChunks.requestId, ids));
    if (done.length) await tx.delete(logRequests).where(inArray(logRequests.id, done));
    if (open.length) {
      const index = await bumpIndex(tx, clusterId);
      // Kept a little while, closed, so the node's assignments index does not fall back meanwhile.
      await tx
        .update(logRequests)
        .set({ closedAt: now, closedIndex: index, expiresAt: now + deps.config.logRelay.renewEveryMs })
        .where(inArray(logRequests.id, open));
    }
  };
  if (open.length) await writeCluster(deps, clusterId, write);
  else await deps.database.write(write);
}

/** Per node, the highest index of a change to its log requests (created or closed early); none: 0. */
export async function logRequestsIndexes(db: Reader, clusterId: string, nodeIds: readonly string[]): Promise<Map<string, number>> {
  const rows = await db
    .select({ nodeId: logRequests.nodeId, index: sql<number | null>`max(max(${logRequests.createdIndex}, coalesce(${logRequests.closedIndex}, 0)))` })
    .from(logRequests)
    .where(and(inIds(logRequests.nodeId, nodeIds), alsoEq(logRequests.clusterId, clusterId)))
    .groupBy(logRequests.nodeId);
  return new Map(rows.map((r) => [r.nodeId, r.index ?? 0]));
}

/** The requests each of these nodes should be serving now. */
export async function nodesLogRequests(db: Reader, clusterId: string, nodeIds: readonly string[], now = Date.now()): Promise<Map<string, LogRequest[]>> {
  const rows = await db
    .select()
    .from(logRequests)
    .where(
      and(
        inIds(logRequests.nodeId, nodeIds),
        alsoEq(logRequests.clusterId, clusterId),
        isNull(logRequests.closedAt),
        isNull(logRequests.doneAt),
        gt(logRequests.expiresAt, now),
      ),
    );
  const byNode = groupBy(rows, (r) => r.nodeId);
  return new Map(
    [...byNode].map(([nodeId, requests]) => [
      nodeId,
      requests.map((r) => ({
        id: r.id,
        taskIds: r.taskIds,
        follow: r.follow,
        tail: r.tail ?? 'all',
        timestamps: r.timestamps,
        ...(r.since !== null ? { since: r.since } : {}),
      })),
    ]),
  );
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
