/**
 * The relay of `docker service logs` and `GET /tasks/{id}/logs`. Agents are behind NAT and the
 * control plane is stateless, so logs travel through the database:
 *
 *   CLI ─GET logs─► instance A: log_requests row per node, index bumped ─► node's long-poll returns
 *   agent ─POST /agent/v1/logs/{id} (batches of frames)─► instance B: log_chunks row per batch
 *   instance A: tails log_chunks (woken at once when B is A, else polls) ─► stdcopy stream to CLI
 *
 * requests.ts keeps the log_requests rows (asking, what a node's long-poll sees, closing, expiry),
 * arrivals.ts takes an agent's batches in, stream.ts sends them to the client as dockerd would.
 * The HTTP routes are docker-api/logs.ts and agent-api/logs.ts.
 */
import type { AppDeps } from '../deps.ts';
import type { LogOptions } from './options.ts';
import { askNodes, type LogScope, tasksWithLogs } from './requests.ts';
import { LogStream } from './stream.ts';

export { LogArrivals, storeLogBatch } from './arrivals.ts';
export { type LogOptions, parseLogOptions } from './options.ts';
export { dropExpiredLogs, type LogScope, logRequestsIndexes, nodesLogRequests } from './requests.ts';

/**
 * Asks the nodes holding the scope's tasks for their logs and returns the stream of them that a
 * client reads until `signal` aborts; null when there is nothing to ask and nothing to wait for.
 */
export async function relayLogs(
  deps: AppDeps,
  clusterId: string,
  serviceId: string,
  scope: LogScope,
  opts: LogOptions,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array> | null> {
  const requests = await askNodes(deps, clusterId, serviceId, await tasksWithLogs(deps.database.db, clusterId, scope), opts);
  const followsService = 'serviceId' in scope;
  // Nothing to ask (no task has run yet): an empty stream, or for a follow one that waits for tasks.
  if (requests.length === 0 && !(opts.follow && followsService)) return null;
  const stream = new LogStream(deps, clusterId, serviceId, requests, opts, signal, followsService);
  return new ReadableStream<Uint8Array>({
    pull: (sink) => stream.pull(sink),
    cancel: () => stream.close(),
  });
}
