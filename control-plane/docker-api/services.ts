import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, writeCluster } from '../app-env.ts';
import type { ChangedNodes } from '../notifier.ts';
import { bumpIndex, type Tx } from '../db/database.ts';
import { clusters, services, tasks, type UpdateStatus } from '../db/schema/index.ts';
import { conflict, invalid } from '../errors.ts';
import { newId } from '../ids.ts';
import { orchestrateCluster } from '../orchestrator/orchestrate.ts';
import type { ServiceRow } from '../orchestrator/cluster-state.ts';
import { allocateEndpointPorts } from '../swarm/ingress-ports.ts';
import { canonicalJson, isGlobal, type PortConfig, replicasOf, specHashOf, type ServiceSpec, withDefaults } from '../swarm/service-spec.ts';
import { validateServiceSpec } from '../swarm/validate-service.ts';
import { jsonOk, readJsonObject, versionParam } from './body.ts';
import { matchesAny, matchesLabels, parseFilters } from './filters.ts';
import { findService } from './lookup.ts';
import { toDockerService } from './views.ts';

const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'] as const;

/** Ingress ports held by the cluster's other services. */
async function portsTaken(tx: Tx, clusterId: string, exceptServiceId: string) {
  const rows = await tx
    .select({ name: services.name, ports: services.endpointPorts })
    .from(services)
    .where(and(eq(services.clusterId, clusterId), ne(services.id, exceptServiceId)));
  const taken = new Map<string, string>();
  for (const row of rows) {
    for (const p of row.ports as unknown as PortConfig[]) if (p.PublishMode === 'ingress') taken.set(`${p.Protocol}/${p.PublishedPort}`, row.name);
  }
  return taken;
}

const ingressOf = (ports: unknown) => canonicalJson((ports as PortConfig[]).filter((p) => p.PublishMode === 'ingress'));

/**
 * Every node's routing mesh listens on the cluster's ingress ports: a change must wake them all.
 * Says whether they changed (then every node's assignments did).
 */
async function touchIngress(tx: Tx, clusterId: string, before: unknown, after: unknown, index: number) {
  if (ingressOf(before) === ingressOf(after)) return false;
  await tx.update(clusters).set({ ingressIndex: index }).where(eq(clusters.id, clusterId));
  return true;
}

function generatedName(): string {
  return `service-${newId().slice(0, 8)}`;
}

/** Running/desired/completed counts per service, in one query, for `?status=true`. */
async function serviceStatus(c: { var: AppEnv['Variables'] }, rows: ServiceRow[]) {
  const { deps, cluster } = c.var;
  const counts = await deps.database.db.all<{ service_id: string; running: number; live: number; completed: number }>(sql`
    select t.service_id,
      sum(case when t.state = 'running' and t.desired_state = 'running' and n.state = 'ready' then 1 else 0 end) as running,
      sum(case when t.desired_state = 'running' then 1 else 0 end) as live,
      sum(case when t.state = 'complete' then 1 else 0 end) as completed
    from tasks t left join nodes n on n.id = t.node_id
    where t.cluster_id = ${cluster.id}
    group by t.service_id`);
  const byId = new Map(counts.map((r) => [r.service_id, r]));
  return (s: ServiceRow) => {
    const r = byId.get(s.id);
    const desired = isGlobal(s.spec) ? (r?.live ?? 0) : replicasOf(s.spec);
    return { running: r?.running ?? 0, desired, completed: r?.completed ?? 0 };
  };
}

export const serviceRoutes = new Hono<AppEnv>()
  .get('/services', async (c) => {
    const { cluster, deps } = c.var;
    const filters = parseFilters(c.req.query('filters'), SERVICE_FILTERS);
    const rows = (await deps.database.db.select().from(services).where(eq(services.clusterId, cluster.id))).filter(
      (s) =>
        matchesAny(filters.get('id'), (v) => s.id.startsWith(v)) &&
        matchesAny(filters.get('name'), (v) => s.name.startsWith(v)) &&
        matchesAny(filters.get('mode'), (v) => v === (isGlobal(s.spec) ? 'global' : 'replicated')) &&
        matchesLabels(filters.get('label'), (s.spec as ServiceSpec).Labels),
    );
    const status = c.req.query('status') === 'true' || c.req.query('status') === '1' ? await serviceStatus(c, rows) : undefined;
    return jsonOk(rows.map((s) => toDockerService(s, s.spec, status?.(s))));
  })
  .get('/services/:ref', async (c) => {
    const { cluster, deps } = c.var;
    const s = await findService(deps.database.db, cluster.id, c.req.param('ref'));
    const spec = c.req.query('insertDefaults') === 'true' ? withDefaults(s.spec) : s.spec;
    return jsonOk(toDockerService(s, spec));
  })
  .post('/services/create', async (c) => {
    const { cluster, deps } = c.var;
    const spec = validateServiceSpec(await readJsonObject(c));
    if (!spec.Name) spec.Name = generatedName();
    const now = deps.now();
    const id = newId();
    // Whose long-polls to wake: a replicated service's tasks are on no node until the leader
    // places them (and that pass wakes their nodes), so none unless its ingress ports are every
    // node's, or global tasks already name their nodes. Undefined (everyone) if the write fails half-way.
    let nodes: ChangedNodes;
    await writeCluster(deps, cluster.id, async (tx) => {
      const existing = await tx.query.services.findFirst({ where: and(eq(services.clusterId, cluster.id), eq(services.name, spec.Name)) });
      if (existing) throw conflict(`service ${spec.Name} already exists`);
      const endpointPorts = allocateEndpointPorts(spec, await portsTaken(tx, cluster.id, id), []);
      const version = await bumpIndex(tx, cluster.id);
      await tx.insert(services).values({
        id,
        clusterId: cluster.id,
        name: spec.Name,
        spec,
        specHash: specHashOf(spec),
        endpointPorts: endpointPorts as unknown as Record<string, unknown>[],
        version,
        createdAt: now,
        updatedAt: now,
      });
      const ingress = await touchIngress(tx, cluster.id, [], endpointPorts, version);
      const pass = await orchestrateCluster(tx, cluster.id, now, { serviceId: id, schedule: false });
      nodes = ingress ? undefined : pass.nodes;
    }, () => nodes);
    return jsonOk({ ID: id }, 201);
  })
  .post('/services/:ref/update', async (c) => {
    const { cluster, deps } = c.var;
    const version = versionParam(c, 'service');
    const rollback = c.req.query('rollback') === 'previous';
    const posted = await readJsonObject(c);
    const now = deps.now();
    // The nodes of the tasks the update stops or creates; everyone when ingress ports change.
    let nodes: ChangedNodes;
    await writeCluster(deps, cluster.id, async (tx) => {
      const s = await findService(tx, cluster.id, c.req.param('ref'));
      if (s.version !== version) {
        throw conflict(`update out of sequence: service ${s.name} is at version ${s.version}, the update was based on ${version}; read it again and retry`);
      }
      let spec: ServiceSpec;
      let updateStatus: UpdateStatus | null;
      const startedAt = new Date(now).toISOString();
      if (rollback) {
        if (!s.previousSpec) throw invalid(`service ${s.name} does not have a previous spec to roll back to`);
        spec = s.previousSpec;
        updateStatus = { State: 'rollback_started', StartedAt: startedAt, Message: 'manually requested rollback' };
      } else {
        spec = validateServiceSpec(posted);
        if (spec.Name !== s.name) throw invalid(`renaming a service is not supported (${s.name} → ${String(spec.Name)})`);
        // A template change starts a rolling update; a scale-only change clears an old status.
        updateStatus = specHashOf(spec) !== s.specHash ? { State: 'updating', StartedAt: startedAt, Message: 'update in progress' } : null;
      }
      const endpointPorts = allocateEndpointPorts(spec, await portsTaken(tx, cluster.id, s.id), s.endpointPorts as unknown as PortConfig[]);
      const index = await bumpIndex(tx, cluster.id);
      await tx
        .update(services)
        .set({
          spec,
          previousSpec: s.spec,
          specHash: specHashOf(spec),
          endpointPorts: endpointPorts as unknown as Record<string, unknown>[],
          updateStatus,
          version: index,
          updatedAt: now,
        })
        .where(eq(services.id, s.id));
      const ingress = await touchIngress(tx, cluster.id, s.endpointPorts, endpointPorts, index);
      const pass = await orchestrateCluster(tx, cluster.id, now, { serviceId: s.id, schedule: false });
      nodes = ingress ? undefined : pass.nodes;
    }, () => nodes);
    return jsonOk({ Warnings: null });
  })
  .delete('/services/:ref', async (c) => {
    const { cluster, deps } = c.var;
    const now = deps.now();
    // The nodes of the tasks to remove; everyone when the service published ingress ports.
    let nodes: ChangedNodes;
    await writeCluster(deps, cluster.id, async (tx) => {
      const s = await findService(tx, cluster.id, c.req.param('ref'));
      const index = await bumpIndex(tx, cluster.id);
      await tx.delete(services).where(eq(services.id, s.id));
      const ingress = await touchIngress(tx, cluster.id, s.endpointPorts, [], index);
      // Agents stop the containers; the tasks go once they have stopped.
      const removed = await tx
        .update(tasks)
        .set({ desiredState: 'remove', version: index, updatedAt: now })
        .where(and(eq(tasks.serviceId, s.id), inArray(tasks.desiredState, ['running', 'ready'])))
        .returning({ nodeId: tasks.nodeId });
      nodes = ingress ? undefined : new Set(removed.flatMap((t) => (t.nodeId ? [t.nodeId] : [])));
    }, () => nodes);
    return new Response(null, { status: 200 });
  });
