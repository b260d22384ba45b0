import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import type { Reader } from '../db/database.ts';
import { networks, services, tasks } from '../db/schema/index.ts';
import type { ServiceSpec } from '../swarm/service-spec.ts';
import { jsonOk } from './body.ts';
import { matchesAny, matchesLabels, parseFilters } from './filters.ts';
import { findTask } from '../swarm/lookup.ts';
import { dockerDesiredState, toDockerTask } from './views.ts';

/** The cluster's networks, for the tasks' NetworksAttachments. */
async function networksById(db: Reader, clusterId: string) {
  return new Map((await db.select().from(networks).where(eq(networks.clusterId, clusterId))).map((n) => [n.id, n]));
}

const TASK_FILTERS = ['id', 'name', 'service', 'node', 'label', 'desired-state', '_up-to-date'] as const;

export const taskRoutes = new Hono<AppEnv>()
  .get('/tasks', async (c) => {
    const { cluster, deps } = c.var;
    const filters = parseFilters(c.req.query('filters'), TASK_FILTERS);
    const db = deps.database.db;
    const serviceRows = await db
      .select({ id: services.id, name: services.name, spec: services.spec, specHash: services.specHash })
      .from(services)
      .where(eq(services.clusterId, cluster.id));
    const byId = new Map(serviceRows.map((s) => [s.id, s]));
    // The service filter takes IDs, names or ID prefixes, as dockerd's does.
    const wantedServices = filters.get('service')?.flatMap((ref) => {
      const exact = serviceRows.filter((s) => s.id === ref || s.name === ref);
      return (exact.length ? exact : serviceRows.filter((s) => s.id.startsWith(ref))).map((s) => s.id);
    });
    let rows;
    if (wantedServices && wantedServices.length === 1) {
      rows = await db.select().from(tasks).where(eq(tasks.serviceId, wantedServices[0]!));
    } else {
      rows = await db.select().from(tasks).where(eq(tasks.clusterId, cluster.id));
    }
    const upToDate = filters.get('_up-to-date');
    const result = rows.filter((t) => {
      const service = byId.get(t.serviceId);
      return (
        t.clusterId === cluster.id &&
        (!wantedServices || wantedServices.includes(t.serviceId)) &&
        matchesAny(filters.get('id'), (v) => t.id.startsWith(v)) &&
        matchesAny(filters.get('name'), (v) => service !== undefined && `${service.name}.${t.slot || t.nodeId}` === v) &&
        matchesAny(filters.get('node'), (v) => t.nodeId !== null && t.nodeId.startsWith(v)) &&
        matchesAny(filters.get('desired-state'), (v) => v === dockerDesiredState(t) || (v === 'accepted' && dockerDesiredState(t) === 'running')) &&
        matchesAny(upToDate, () => service !== undefined && service.specHash === t.specHash) &&
        matchesLabels(filters.get('label'), service?.spec.Labels)
      );
    });
    const nets = await networksById(db, cluster.id);
    return jsonOk(result.map((t) => toDockerTask(t, byId.get(t.serviceId)?.spec.Labels, nets)));
  })
  .get('/tasks/:ref', async (c) => {
    const { cluster, deps } = c.var;
    const t = await findTask(deps.database.db, cluster.id, c.req.param('ref'));
    const service = await deps.database.db.query.services.findFirst({ where: eq(services.id, t.serviceId) });
    return jsonOk(toDockerTask(t, service?.spec.Labels, await networksById(deps.database.db, cluster.id)));
  });
