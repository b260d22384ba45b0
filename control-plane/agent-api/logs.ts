/**
 * The agent's half of `docker service logs`. Agents are behind NAT and the control plane is
 * stateless, so logs travel through the database:
 *
 *   CLI ─GET logs─► instance A: log_requests row per node, index bumped ─► node's long-poll returns
 *   agent ─POST /agent/v1/logs/{id} (batches of frames)─► instance B: log_chunks row per batch
 *   instance A: tails log_chunks (woken at once when B is A, else polls) ─► stdcopy stream to CLI
 */
import { and, eq, inArray, isNull, lte, gt, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import type { Reader, Tx } from '../db/database.ts';
import { logChunks, logRequests } from '../db/schema/index.ts';
import { ApiError, invalid, notFound } from '../errors.ts';
import { type AgentEnv, nodeAuth } from './node-auth.ts';
import type { LogRequest } from '../../protocol/agent-api.ts';
import { decodeLogFrames, splitAgentPayload } from '../../protocol/log-frames.ts';

/** Wakes readers in this process when an agent's batch lands here; other instances poll. */
export class LogArrivals {
  private readonly waiters = new Map<string, Set<() => void>>();

  publish(requestId: string): void {
    for (const wake of this.waiters.get(requestId) ?? []) wake();
  }

  /** Resolves when a batch for one of the requests arrives, the time passes, or the signal aborts. */
  wait(requestIds: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        for (const id of requestIds) {
          const set = this.waiters.get(id);
          set?.delete(wake);
          if (set?.size === 0) this.waiters.delete(id);
        }
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      signal?.addEventListener('abort', wake, { once: true });
      for (const id of requestIds) {
        let set = this.waiters.get(id);
        if (!set) this.waiters.set(id, (set = new Set()));
        set.add(wake);
      }
    });
  }
}

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

/** `POST /agent/v1/logs/{id}`: a batch of one request's log frames, from the node it asked (and only it). */
export const agentLogRoutes = new Hono<AgentEnv>().post('/logs/:id', nodeAuth(), async (c) => {
  const { deps, cluster, node } = c.var;
  const id = c.req.param('id');
  const request = await deps.database.db.query.logRequests.findFirst({
    where: and(eq(logRequests.id, id), eq(logRequests.clusterId, cluster.id), eq(logRequests.nodeId, node.id)),
  });
  // Another node's request is as unknown as a missing one.
  if (!request) throw notFound(`log request ${id} not found for this node`);
  const now = deps.now();
  if (request.closedAt !== null || request.expiresAt <= now) {
    throw new ApiError('gone', `log request ${id} is closed: its client went away; stop sending its logs`);
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  const taskIds = new Set(request.taskIds);
  for (const frame of decodeLogFrames(body)) {
    const { taskId } = splitAgentPayload(frame.payload);
    if (!taskIds.has(taskId)) throw invalid(`task ${taskId} is not part of log request ${id}`);
  }
  const done = c.req.query('done') === '1';
  if (body.length > 0 || done) {
    await deps.database.write(async (tx) => {
      if (body.length > 0) await tx.insert(logChunks).values({ requestId: id, data: body, expiresAt: now + deps.config.logRelay.chunkTtlMs });
      if (done) await tx.update(logRequests).set({ doneAt: now }).where(eq(logRequests.id, id));
    });
    deps.logArrivals.publish(id);
  }
  return new Response(null, { status: 204 });
});
