/**
 * The relay of `docker service logs` and `GET /tasks/{id}/logs`. Agents are behind NAT and the
 * control plane is stateless, so logs travel through the database:
 *
 *   CLI ─GET logs─► instance A: log_requests row per node, index bumped ─► node's long-poll returns
 *   agent ─POST /agent/v1/logs/{id} (batches of frames)─► instance B: log_chunks row per batch
 *   instance A: tails log_chunks (woken at once when B is A, else polls) ─► stdcopy stream to CLI
 *
 * requests.ts keeps the log_requests rows (what a node's long-poll sees, expiry), arrivals.ts
 * takes an agent's batches in. The HTTP routes are docker-api/logs.ts and agent-api/logs.ts.
 */
export { LogArrivals, storeLogBatch } from './arrivals.ts';
export { dropExpiredLogs, logRequestsIndex, nodeLogRequests } from './requests.ts';
