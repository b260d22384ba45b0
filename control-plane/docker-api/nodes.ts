import { isStringMap } from '../json-guards.ts';
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, clusterAddr, writeCluster } from '../app-env.ts';
import { type NodeAvailability, type NodeSpec, nodes } from '../db/schema/index.ts';
import { conflict, invalid } from '../errors.ts';
import { removeNode, updateNode } from '../swarm/nodes.ts';
import { emptyOk, jsonOk, readJsonObject, versionParam } from './body.ts';
import { matchesAny, matchesLabels, parseFilters } from './filters.ts';
import { findNode } from '../swarm/lookup.ts';
import { boolParam } from './query.ts';
import { withDockerKeys } from '../swarm/spec-keys.ts';
import { toDockerNode, toManagerNode } from './views.ts';

const NODE_FILTERS = ['id', 'name', 'role', 'membership', 'label', 'node.label'] as const;

const isAvailability = (v: unknown): v is NodeAvailability => v === 'active' || v === 'pause' || v === 'drain';

function validateNodeSpec(posted: Record<string, unknown>, currentRole: 'worker' | 'manager'): NodeSpec {
  const spec = withDockerKeys('NodeSpec', posted);
  const availability = spec.Availability;
  if (!isAvailability(availability)) {
    throw invalid(`invalid Availability ${JSON.stringify(availability)}: expected active, pause or drain`);
  }
  if (spec.Role !== undefined && spec.Role !== currentRole) {
    throw invalid('changing a node\'s role is not supported: the control plane is the only manager; agents are workers');
  }
  const labels = spec.Labels;
  if (labels !== undefined && labels !== null && !isStringMap(labels)) throw invalid('Labels must map strings to strings');
  return { ...spec, Labels: labels ?? {}, Role: currentRole, Availability: availability };
}

export const nodeRoutes = new Hono<AppEnv>()
  .get('/nodes', async (c) => {
    const { cluster, deps } = c.var;
    const filters = parseFilters(c.req.query('filters'), NODE_FILTERS);
    const lease = await deps.leaseHolder();
    const manager = toManagerNode(cluster, clusterAddr(deps, cluster), lease?.holder ?? '');
    const rows = await deps.database.db.select().from(nodes).where(eq(nodes.clusterId, cluster.id));
    const all = [manager, ...rows.map(toDockerNode)];
    const result = all.filter((n) => {
      const role = n.Spec.Role ?? '';
      const name = n.Spec.Name;
      return (
        matchesAny(filters.get('id'), (v) => n.ID.startsWith(v)) &&
        matchesAny(filters.get('name'), (v) => n.Description.Hostname.startsWith(v) || name === v) &&
        matchesAny(filters.get('role'), (v) => v === role) &&
        matchesAny(filters.get('membership'), (v) => v === 'accepted') &&
        matchesLabels(filters.get('label'), n.Description.Engine.Labels) &&
        matchesLabels(filters.get('node.label'), n.Spec.Labels)
      );
    });
    return jsonOk(result);
  })
  .get('/nodes/:ref', async (c) => {
    const { cluster, deps } = c.var;
    const ref = c.req.param('ref');
    if (ref === cluster.managerNodeId || ref === 'control-plane' || (ref.length >= 3 && cluster.managerNodeId.startsWith(ref))) {
      const lease = await deps.leaseHolder();
      return jsonOk(toManagerNode(cluster, clusterAddr(deps, cluster), lease?.holder ?? ''));
    }
    return jsonOk(toDockerNode(await findNode(deps.database.db, cluster.id, ref)));
  })
  .post('/nodes/:ref/update', async (c) => {
    const { cluster, deps } = c.var;
    const ref = c.req.param('ref');
    if (ref === cluster.managerNodeId) throw invalid('the control plane\'s manager entry cannot be updated; update agent nodes instead');
    const version = versionParam(c, 'node');
    const body = await readJsonObject(c);
    const now = deps.now();
    await writeCluster(deps, cluster.id, async (tx) => {
      const node = await findNode(tx, cluster.id, ref);
      if (node.version !== version) {
        throw conflict(`update out of sequence: node ${node.hostname} is at version ${node.version}, the update was based on ${version}; read it again and retry`);
      }
      await updateNode(tx, node, validateNodeSpec(body, node.role), now);
    });
    return emptyOk();
  })
  .delete('/nodes/:ref', async (c) => {
    const { cluster, deps } = c.var;
    const ref = c.req.param('ref');
    if (ref === cluster.managerNodeId) throw invalid('the control plane\'s manager entry cannot be removed');
    const force = boolParam(c, 'force');
    await writeCluster(deps, cluster.id, async (tx) => removeNode(tx, await findNode(tx, cluster.id, ref), force, deps.now()));
    return emptyOk();
  });
