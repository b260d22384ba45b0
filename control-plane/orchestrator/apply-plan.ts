/**
 * Applying the services' plans inside the pass's transaction: update statuses and rollbacks, then
 * every stop and every new task in as few statements as possible. Decides nothing: what to do was
 * decided by the reconciler; this only writes it, and keeps the pass's state in step.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import { services, type TaskNetwork, tasks } from '../db/schema/index.ts';
import { isNameAnswer, namesChanged } from '../swarm/mesh-changes.ts';
import { newId } from '../ids.ts';
import { specHashOf } from '../swarm/service-spec.ts';
import type { ServiceRow, TaskSummary } from './cluster-state.ts';
import { chunks, type Pass } from './pass.ts';
import type { Plan } from './reconcile.ts';
import { recordEvent } from '../events/record.ts';
import { serviceUpdated } from '../events/swarm-objects.ts';

export interface ServicePlan {
  service: ServiceRow;
  plan: Plan;
}

/** Writes the plans; `alsoStop` are tasks no plan covers (those of removed services). */
export async function applyPlans(pass: Pass, plans: ServicePlan[], alsoStop: string[]): Promise<void> {
  for (const { service, plan } of plans) await writeRollout(pass, service, plan);
  await stopTasks(pass, [...plans.flatMap(({ plan }) => plan.shutdown.map((s) => s.taskId)), ...alsoStop]);
  for (const { service, plan } of plans) if (plan.create.length) await createTasks(pass, service, plan.create);
}

async function writeRollout(pass: Pass, service: ServiceRow, plan: Plan) {
  if (plan.updateStatus === undefined && !plan.rollback) return;
  const spec = plan.rollback && service.previousSpec ? service.previousSpec : service.spec;
  await recordEvent(pass.tx, pass.clusterId, pass.now, serviceUpdated(service, spec, plan.updateStatus ?? null));
  // The reconciler rolls back only when there is a previous spec to go back to.
  if (plan.rollback && service.previousSpec) {
    // The failed update's own FailureAction: back to the previous spec, as `docker service rollback` would.
    const previous = service.previousSpec;
    await pass.tx
      .update(services)
      .set({ spec: previous, previousSpec: service.spec, specHash: specHashOf(previous), updateStatus: plan.updateStatus, version: await pass.version(), updatedAt: pass.now })
      .where(eq(services.id, service.id));
  } else if (plan.updateStatus !== undefined) {
    await pass.tx
      .update(services)
      .set({ updateStatus: plan.updateStatus, version: await pass.version(), updatedAt: pass.now })
      .where(eq(services.id, service.id));
  }
}

async function stopTasks(pass: Pass, ids: string[]) {
  if (!ids.length) return;
  const version = await pass.version();
  const stopped = new Set(ids);
  // A running task stops being a DNS answer now, before its container stops (drain, then stop).
  const answering = new Set(pass.state.tasks.filter((t) => stopped.has(t.id) && isNameAnswer(t)).map((t) => t.id));
  const onNetworks: Array<{ networks: TaskNetwork[] | null }> = [];
  // A task never assigned has no agent to report it stopped: it is shut down here and now.
  for (const part of chunks(ids)) {
    const rows = await pass.tx
      .update(tasks)
      .set({
        desiredState: 'shutdown',
        state: sql`case when ${tasks.state} in ('new', 'pending') then 'shutdown' else ${tasks.state} end`,
        version,
        updatedAt: pass.now,
      })
      .where(inArray(tasks.id, part))
      .returning({ id: tasks.id, networks: tasks.networks });
    onNetworks.push(...rows.filter((r) => answering.has(r.id)));
  }
  await namesChanged(pass.tx, onNetworks, version);
  const written = pass.state.tasks.filter((t) => stopped.has(t.id));
  for (const t of written) {
    t.desiredState = 'shutdown';
    if (t.state === 'new' || t.state === 'pending') t.state = 'shutdown';
  }
  pass.tasksWritten(written);
}

/** One statement per service: the spec is bound once, the slots come as one JSON array. */
async function createTasks(pass: Pass, service: ServiceRow, create: Plan['create']) {
  const { tx, now } = pass;
  const version = await pass.version();
  const slots = create.map((c): [id: string, slot: number, nodeId: string | null] => [newId(), c.slot, c.nodeId]);
  // A job's task is desired running like any other (the agent runs it); its iteration makes it a job's.
  const jobIteration = service.jobStatus?.JobIteration.Index ?? null;
  await tx.run(sql`
    insert into tasks (id, cluster_id, service_id, slot, node_id, spec, spec_hash, job_iteration, desired_state, state, message,
      status_at, version, created_at, updated_at)
    select json_extract(value, '$[0]'), ${pass.clusterId}, ${service.id}, json_extract(value, '$[1]'), json_extract(value, '$[2]'),
      ${JSON.stringify(service.spec.TaskTemplate ?? {})}, ${service.specHash}, ${jobIteration}, 'running', 'pending',
      'pending task scheduling', ${now}, ${version}, ${now}, ${now}
    from json_each(${JSON.stringify(slots)})`);
  const made = slots.map(([id, slot, nodeId]): TaskSummary => ({
    id,
    serviceId: service.id,
    slot,
    nodeId,
    specHash: service.specHash,
    jobIteration,
    desiredState: 'running',
    state: 'pending',
    err: null,
    statusAt: now,
    createdAt: now,
  }));
  for (const t of made) pass.state.tasks.push(t);
  // A global task names its node at once: not in that node's answer yet, but in its index.
  pass.tasksWritten(made);
}
