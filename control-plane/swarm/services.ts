/**
 * Creating, updating and removing services: each one decision in the caller's transaction, which
 * also records whose long-polls the change concerns (db/wake.ts).
 */
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { bumpIndex, type Reader, type Tx } from '../db/database.ts';
import { clusters, services, tasks, type UpdateStatus, type VirtualIp } from '../db/schema/index.ts';
import { wakeEveryone, wakeNodes } from '../db/wake.ts';
import { conflict, invalid } from '../errors.ts';
import { newId } from '../ids.ts';
import { orchestrateCluster } from '../orchestrator/orchestrate.ts';
import type { ServiceRow } from '../orchestrator/cluster-state.ts';
import { recordEvent } from '../events/record.ts';
import { serviceUpdated } from '../events/swarm-objects.ts';
import { allocateEndpointPorts } from './ingress-ports.ts';
import { resolveServiceNetworks } from './networks.ts';
import { checkServicePayloads } from './payloads.ts';
import { allocateVirtualIps } from './virtual-ips.ts';
import { namesChanged } from './mesh-changes.ts';
import { canonicalJson, isGlobal, isJob, modeNameOf, type PortConfig, replicasOf, replicatedJobOf, type ServiceSpec, specHashOf } from './service-spec.ts';

/** Ingress ports held by the cluster's other services: "tcp/8080" → the name of the service holding it. */
async function portsTaken(tx: Tx, clusterId: string, exceptServiceId: string) {
  const rows = await tx
    .select({ name: services.name, ports: services.endpointPorts })
    .from(services)
    .where(and(eq(services.clusterId, clusterId), ne(services.id, exceptServiceId)));
  const taken = new Map<string, string>();
  for (const row of rows) for (const p of row.ports) if (p.PublishMode === 'ingress') taken.set(`${p.Protocol}/${p.PublishedPort}`, row.name);
  return taken;
}

const ingressOf = (ports: PortConfig[]) => canonicalJson(ports.filter((p) => p.PublishMode === 'ingress'));

/** Every node's routing mesh listens on the cluster's ingress ports: a change concerns them all. */
async function touchIngress(tx: Tx, clusterId: string, before: PortConfig[], after: PortConfig[], index: number) {
  if (ingressOf(before) === ingressOf(after)) return;
  await tx.update(clusters).set({ ingressIndex: index }).where(eq(clusters.id, clusterId));
  wakeEveryone(tx);
}

/**
 * Makes the service's tasks in the same transaction, so that `docker service ps` shows them the
 * moment create or update returns, as dockerd does. The pass is not fenced by the lease: it only
 * creates and stops tasks of this one service, which any instance may do, and places none; the
 * leader's next pass schedules them. The pass records whose long-polls its tasks concern itself.
 */
async function reconcileNow(tx: Tx, clusterId: string, serviceId: string, now: number) {
  await orchestrateCluster(tx, clusterId, now, { serviceId, schedule: false });
}

export async function createService(tx: Tx, clusterId: string, posted: ServiceSpec, now: number): Promise<string> {
  const spec = await resolveServiceNetworks(tx, clusterId, posted);
  await checkServicePayloads(tx, clusterId, spec);
  const name = spec.Name || `service-${newId().slice(0, 8)}`;
  spec.Name = name;
  const existing = await tx.query.services.findFirst({ where: and(eq(services.clusterId, clusterId), eq(services.name, name)) });
  if (existing) throw conflict(`service ${name} already exists`);
  const id = newId();
  const endpointPorts = allocateEndpointPorts(spec, await portsTaken(tx, clusterId, id), []);
  const virtualIps = await allocateVirtualIps(tx, clusterId, spec, endpointPorts, []);
  const version = await bumpIndex(tx, clusterId);
  const jobStatus = isJob(spec) ? { JobIteration: { Index: 0 }, LastExecution: new Date(now).toISOString() } : null;
  await tx.insert(services).values({ id, clusterId, name, spec, specHash: specHashOf(spec), endpointPorts, virtualIps, jobStatus, version, createdAt: now, updatedAt: now });
  await recordEvent(tx, clusterId, now, { type: 'service', action: 'create', actorId: id, attributes: { name } });
  // A replicated service's tasks are on no node until the leader places them (and that pass wakes
  // their nodes); global tasks name their nodes at once.
  wakeNodes(tx, []);
  await touchIngress(tx, clusterId, [], endpointPorts, version);
  // Its name resolves to its virtual IPs from now on, before any task runs.
  await namesChanged(tx, [vipNetworks(virtualIps)], version);
  await reconcileNow(tx, clusterId, id, now);
  return id;
}

export type ServiceChange = { rollback: true } | { rollback: false; spec: ServiceSpec };

/** `docker service update` (a new spec) or `docker service rollback` (back to the previous one). */
export async function updateService(tx: Tx, service: ServiceRow, change: ServiceChange, now: number): Promise<void> {
  const startedAt = new Date(now).toISOString();
  let spec: ServiceSpec;
  let updateStatus: UpdateStatus | null;
  if (change.rollback) {
    if (!service.previousSpec) throw invalid(`service ${service.name} does not have a previous spec to roll back to`);
    spec = service.previousSpec;
    updateStatus = { State: 'rollback_started', StartedAt: startedAt, Message: 'manually requested rollback' };
  } else {
    spec = await resolveServiceNetworks(tx, service.clusterId, change.spec);
    await checkServicePayloads(tx, service.clusterId, spec);
    if (spec.Name !== service.name) throw invalid(`renaming a service is not supported (${service.name} → ${String(spec.Name)})`);
    // A job's tasks are tied to its mode (slots, iterations), as in swarmkit; other changes of mode stay allowed.
    if ((isJob(spec) || isJob(service.spec)) && modeNameOf(spec) !== modeNameOf(service.spec)) {
      throw invalid(`service mode change is not allowed (${modeNameOf(service.spec)} → ${modeNameOf(spec)}): remove the service and create it again`);
    }
    // A template change starts a rolling update; a scale-only change clears an old status.
    updateStatus = specHashOf(spec) !== service.specHash ? { State: 'updating', StartedAt: startedAt, Message: 'update in progress' } : null;
  }
  // Every update of a job, a rollback too, runs it again as a new iteration rather than rolling it out.
  const jobStatus = service.jobStatus && { JobIteration: { Index: service.jobStatus.JobIteration.Index + 1 }, LastExecution: startedAt };
  if (jobStatus) updateStatus = null;
  const endpointPorts = allocateEndpointPorts(spec, await portsTaken(tx, service.clusterId, service.id), service.endpointPorts);
  const virtualIps = await allocateVirtualIps(tx, service.clusterId, spec, endpointPorts, service.virtualIps);
  const index = await bumpIndex(tx, service.clusterId);
  await tx
    .update(services)
    .set({ spec, previousSpec: service.spec, specHash: specHashOf(spec), endpointPorts, virtualIps, updateStatus, jobStatus, version: index, updatedAt: now })
    .where(eq(services.id, service.id));
  await recordEvent(tx, service.clusterId, now, serviceUpdated(service, spec, updateStatus));
  await touchIngress(tx, service.clusterId, service.endpointPorts, endpointPorts, index);
  if (endpointModeOf(spec) !== endpointModeOf(service.spec) || canonicalJson(virtualIps) !== canonicalJson(service.virtualIps)) {
    await touchServiceNames(tx, service.id, [...service.virtualIps, ...virtualIps], index);
  }
  await reconcileNow(tx, service.clusterId, service.id, now);
}

const endpointModeOf = (spec: ServiceSpec) => spec.EndpointSpec?.Mode ?? 'vip';

/**
 * `<service>` answers its virtual IPs, or its running tasks' addresses in dnsrr mode: a change of
 * either changes the names on the networks of both.
 */
async function touchServiceNames(tx: Tx, serviceId: string, virtualIps: VirtualIp[], index: number): Promise<void> {
  const running = await tx.select({ networks: tasks.networks }).from(tasks).where(and(eq(tasks.serviceId, serviceId), eq(tasks.state, 'running')));
  await namesChanged(tx, [...running, vipNetworks(virtualIps)], index);
}

/** Virtual IPs in the shape of a task's networks, for namesChanged. */
const vipNetworks = (virtualIps: VirtualIp[]) => ({ networks: virtualIps.map((v) => ({ networkId: v.NetworkID, address: v.Addr })) });

/** `docker service rm`: agents stop the containers; the tasks go once they have stopped. */
export async function removeService(tx: Tx, service: ServiceRow, now: number): Promise<void> {
  const index = await bumpIndex(tx, service.clusterId);
  await tx.delete(services).where(eq(services.id, service.id));
  await recordEvent(tx, service.clusterId, now, { type: 'service', action: 'remove', actorId: service.id, attributes: { name: service.name } });
  const removed = await tx
    .update(tasks)
    .set({ desiredState: 'remove', version: index, updatedAt: now })
    .where(and(eq(tasks.serviceId, service.id), inArray(tasks.desiredState, ['running', 'ready'])))
    .returning({ nodeId: tasks.nodeId, state: tasks.state, networks: tasks.networks });
  wakeNodes(tx, removed.map((t) => t.nodeId));
  // Its name and running tasks leave the names at once, before their containers stop.
  await namesChanged(tx, [...removed.filter((t) => t.state === 'running'), vipNetworks(service.virtualIps)], index);
  await touchIngress(tx, service.clusterId, service.endpointPorts, [], index);
}

export interface ServiceCounts {
  running: number;
  desired: number;
  completed: number;
}

/**
 * Running/desired/completed tasks per service, in one query, for `docker service ls` (`?status=true`).
 * A job counts its current iteration's tasks only, and desires what swarmkit says: MaxConcurrent
 * tasks for a replicated job, the tasks not yet completed for a global one.
 */
export async function serviceCounts(db: Reader, clusterId: string): Promise<(s: ServiceRow) => ServiceCounts> {
  const counts = await db.all<{ service_id: string; job_iteration: number | null; running: number; live: number; unfinished: number; completed: number }>(sql`
    select t.service_id, t.job_iteration,
      sum(case when t.state = 'running' and t.desired_state = 'running' and n.state = 'ready' then 1 else 0 end) as running,
      sum(case when t.desired_state = 'running' then 1 else 0 end) as live,
      sum(case when t.desired_state = 'running' and t.state != 'complete' then 1 else 0 end) as unfinished,
      sum(case when t.state = 'complete' then 1 else 0 end) as completed
    from tasks t left join nodes n on n.id = t.node_id
    where t.cluster_id = ${clusterId}
    group by t.service_id, t.job_iteration`);
  const byKey = new Map(counts.map((r) => [`${r.service_id}/${r.job_iteration ?? ''}`, r]));
  return (s) => {
    const r = byKey.get(`${s.id}/${s.jobStatus?.JobIteration.Index ?? ''}`);
    const job = replicatedJobOf(s.spec);
    let desired: number;
    if (job) desired = job.maxConcurrent;
    else if (modeNameOf(s.spec) === 'global-job') desired = r?.unfinished ?? 0;
    else desired = isGlobal(s.spec) ? (r?.live ?? 0) : replicasOf(s.spec);
    return { running: r?.running ?? 0, desired, completed: r?.completed ?? 0 };
  };
}
