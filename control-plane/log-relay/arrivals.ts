import { and, eq } from 'drizzle-orm';
import type { AppDeps } from '../deps.ts';
import { logChunks, logRequests } from '../db/schema/index.ts';
import { ApiError, invalid, notFound } from '../errors.ts';
import { decodeLogFrames, splitAgentPayload } from '../../protocol/log-frames.ts';
import { assertLogRoom } from '../fair-share/index.ts';

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

export interface LogBatch {
  clusterId: string;
  /** The node that posts it: only the node a request asked may answer it. */
  nodeId: string;
  requestId: string;
  /** Read only once the request is known to be this node's and still wanted. */
  body: () => Promise<Uint8Array>;
  /** The node has sent everything (a request without follow). */
  done: boolean;
}

/** Stores a batch of one request's log frames for the instance serving its client, and wakes it if that is this one. */
export async function storeLogBatch(deps: AppDeps, batch: LogBatch): Promise<void> {
  const { clusterId, nodeId, requestId: id, done } = batch;
  const request = await deps.database.db.query.logRequests.findFirst({
    where: and(eq(logRequests.id, id), eq(logRequests.clusterId, clusterId), eq(logRequests.nodeId, nodeId)),
  });
  // Another node's request is as unknown as a missing one.
  if (!request) throw notFound(`log request ${id} not found for this node`);
  const now = deps.now();
  if (request.closedAt !== null || request.expiresAt <= now) {
    throw new ApiError('gone', `log request ${id} is closed: its client went away; stop sending its logs`);
  }
  const body = await batch.body();
  deps.fairShare.admitLogBytes(nodeId, body.length);
  const taskIds = new Set(request.taskIds);
  for (const frame of decodeLogFrames(body)) {
    const { taskId } = splitAgentPayload(frame.payload);
    if (!taskIds.has(taskId)) throw invalid(`task ${taskId} is not part of log request ${id}`);
  }
  if (body.length === 0 && !done) return;
  await deps.database.write(async (tx) => {
    await assertLogRoom(tx, clusterId, body.length, deps.config.fairShare.logStoredBytesPerCluster);
    if (body.length > 0) await tx.insert(logChunks).values({ requestId: id, data: body, expiresAt: now + deps.config.logRelay.chunkTtlMs });
    if (done) await tx.update(logRequests).set({ doneAt: now }).where(eq(logRequests.id, id));
  });
  deps.logArrivals.publish(id);
}
