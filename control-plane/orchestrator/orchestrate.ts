/**
 * One orchestration pass over a cluster, as named steps (README.md): liveness, a plan per service,
 * applying the plans, assignment, the reaper. All run in the caller's transaction, so every
 * decision is made on exactly the state it changes; whose long-polls the writes concern is
 * recorded on the transaction as they are made (db/wake.ts).
 */
import type { Tx } from '../db/database.ts';
import { applyPlans, type ServicePlan } from './apply-plan.ts';
import { addressNodes } from './addresses.ts';
import { assignPendingTasks } from './assign.ts';
import { type ClusterState, nodeView, type TaskSummary } from './cluster-state.ts';
import { markSilentNodesDown } from './liveness.ts';
import { Pass } from './pass.ts';
import { liveTasksOfRemovedServices, trimHistory } from './reaper.ts';
import { reconcileService } from './reconcile.ts';

export interface OrchestrationOptions {
  /** Reconcile only this service (an API write); the leader reconciles all. */
  serviceId?: string;
  /** Place pending tasks; only the leader schedules. */
  schedule: boolean;
  /**
   * Mark nodes down whose last heartbeat is older than this time (ms), given the cluster's node
   * count (its heartbeat period grows with it); leader only.
   */
  silentBefore?: (nodeCount: number) => number;
  /** Nodes heard from but not yet written (this instance's status batcher): never silent. */
  heardUnwritten?: (nodeId: string) => boolean;
  /** Terminal tasks kept per slot. */
  historyPerSlot?: number;
}

export interface OrchestrationResult {
  /** The change index this pass committed at, when it wrote anything. */
  index: number | undefined;
  /** The cluster's index this pass saw (its own, when it wrote). */
  observedIndex: number;
  /** When a plan wants the cluster looked at again although nothing changes (a restart delay, a Monitor period). */
  wakeAt: number | undefined;
  placed: number;
}

export async function orchestrateCluster(tx: Tx, clusterId: string, now: number, opts: OrchestrationOptions): Promise<OrchestrationResult> {
  const pass = await Pass.begin(tx, clusterId, now, opts.serviceId);
  if (opts.silentBefore !== undefined) await markSilentNodesDown(pass, opts.silentBefore(pass.state.nodes.length), opts.heardUnwritten);
  const plans = planServices(pass.state, now);
  // Tasks whose service was removed stop too (only a whole-cluster pass sees them).
  await applyPlans(pass, plans, opts.serviceId ? [] : liveTasksOfRemovedServices(pass.state));
  if (opts.schedule) await addressNodes(pass);
  const placed = opts.schedule ? await assignPendingTasks(pass) : 0;
  if (opts.historyPerSlot !== undefined) {
    // `docker swarm update --task-history-limit N` sets it per cluster; the config is the default.
    const limit = pass.cluster?.spec.Orchestration?.TaskHistoryRetentionLimit;
    await trimHistory(pass, typeof limit === 'number' && limit >= 0 ? limit : opts.historyPerSlot);
  }
  let wakeAt: number | undefined;
  for (const { plan } of plans) if (plan.wakeAt) wakeAt = Math.min(wakeAt ?? Infinity, plan.wakeAt);
  return { index: pass.index, observedIndex: pass.index ?? pass.cluster?.changeIndex ?? 0, wakeAt, placed };
}

/** Each service's plan, made on the nodes as liveness left them. */
function planServices(state: ClusterState, now: number): ServicePlan[] {
  const views = state.nodes.map(nodeView);
  const tasksByService = new Map<string, TaskSummary[]>();
  for (const t of state.tasks) {
    const list = tasksByService.get(t.serviceId);
    if (list) list.push(t);
    else tasksByService.set(t.serviceId, [t]);
  }
  return state.services.map((service) => ({ service, plan: reconcileService(service, tasksByService.get(service.id) ?? [], views, now) }));
}
