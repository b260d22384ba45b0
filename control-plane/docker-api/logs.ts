/**
 * `docker service logs` and `GET /tasks/{id}/logs`: the HTTP side of the log relay (log-relay/),
 * which asks the nodes and streams what they send.
 */
import { Hono, type Context } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { type LogScope, parseLogOptions, relayLogs } from '../log-relay/index.ts';
import { findService, findTask } from '../swarm/lookup.ts';

/**
 * dockerd sends log streams without a Content-Type, but @hono/node-server gives every body
 * without one "text/plain". On Node (its bindings carry the ServerResponse) the header is taken
 * out as the head is written; other runtimes add none.
 */
function withoutDefaultContentType(c: Context<AppEnv>): void {
  const env: unknown = c.env;
  if (typeof env !== 'object' || env === null || !('outgoing' in env)) return;
  const outgoing = env.outgoing;
  if (typeof outgoing !== 'object' || outgoing === null || !('writeHead' in outgoing)) return;
  const writeHead = outgoing.writeHead;
  if (typeof writeHead !== 'function') return;
  outgoing.writeHead = function (this: unknown, status: number, headers?: Record<string, unknown>) {
    if (headers && typeof headers === 'object') for (const key of Object.keys(headers)) if (key.toLowerCase() === 'content-type') delete headers[key];
    return writeHead.call(this, status, headers);
  };
}

async function logsResponse(c: Context<AppEnv>, serviceId: string, scope: LogScope): Promise<Response> {
  const { deps, cluster } = c.var;
  const body = await relayLogs(deps, cluster.id, serviceId, scope, parseLogOptions((name) => c.req.query(name)), c.req.raw.signal);
  // Only now: an error above must keep its JSON Content-Type.
  withoutDefaultContentType(c);
  return new Response(body, { status: 200 });
}

export const serviceLogRoutes = new Hono<AppEnv>()
  .get('/services/:ref/logs', async (c) => {
    const { deps, cluster } = c.var;
    const service = await findService(deps.database.db, cluster.id, c.req.param('ref'));
    return logsResponse(c, service.id, { serviceId: service.id });
  })
  .get('/tasks/:ref/logs', async (c) => {
    const { deps, cluster } = c.var;
    const task = await findTask(deps.database.db, cluster.id, c.req.param('ref'));
    return logsResponse(c, task.serviceId, { taskId: task.id });
  });
