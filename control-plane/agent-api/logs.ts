import { Hono } from 'hono';
import { storeLogBatch } from '../log-relay/index.ts';
import { type AgentEnv, nodeAuth } from './node-auth.ts';

/** `POST /agent/v1/logs/{id}`: a batch of one request's log frames (the log relay's agent side, see log-relay/). */
export const agentLogRoutes = new Hono<AgentEnv>().post('/logs/:id', nodeAuth(), async (c) => {
  const { deps, cluster, node } = c.var;
  await storeLogBatch(deps, {
    clusterId: cluster.id,
    nodeId: node.id,
    requestId: c.req.param('id'),
    body: async () => new Uint8Array(await c.req.arrayBuffer()),
    done: c.req.query('done') === '1',
  });
  return new Response(null, { status: 204 });
});
