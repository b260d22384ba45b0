import { describe, expect, it } from 'vitest';
import { reconcileService, type ServiceView, type TaskView } from '../../control-plane/orchestrator/reconcile.ts';
import { type ServiceMode, type ServiceSpec, specHashOf } from '../../control-plane/swarm/service-spec.ts';
import { created, node, SECOND, stopped, task } from './plan-fixtures.ts';

function job(mode: ServiceMode, iteration = 0, template: Record<string, unknown> = {}): ServiceView {
  const spec: ServiceSpec = { Name: 'j', TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, ...template }, Mode: mode };
  return { id: 'j', spec, specHash: specHashOf(spec), previousSpec: null, updateStatus: null, jobStatus: { JobIteration: { Index: iteration }, LastExecution: '' } };
}
const replicatedJob = (MaxConcurrent: number, TotalCompletions: number, template: Record<string, unknown> = {}, iteration = 0) =>
  job({ ReplicatedJob: { MaxConcurrent, TotalCompletions } }, iteration, template);

/** A task of the job's current iteration in `slot`, running unless told otherwise. */
const jobTask = (svc: ServiceView, slot: number, extra: Partial<TaskView> = {}) =>
  task({ slot, specHash: svc.specHash, jobIteration: svc.jobStatus!.JobIteration.Index, ...extra });
/** A task that exited 0 and that the control plane has let go. */
const completed = (svc: ServiceView, slot: number, extra: Partial<TaskView> = {}) => jobTask(svc, slot, { state: 'complete', desiredState: 'shutdown', ...extra });

const nodes = [node('n1'), node('n2')];

describe('reconcileService: replicated jobs', () => {
  it('starts MaxConcurrent tasks, in slots numbered from 0 as swarmkit numbers them', () => {
    const plan = reconcileService(replicatedJob(2, 5), [], nodes, 1000);
    expect(plan).toEqual({ create: [{ slot: 0, nodeId: null }, { slot: 1, nodeId: null }], shutdown: [] });
  });

  it('without counts, runs one task once (MaxConcurrent 1, TotalCompletions = MaxConcurrent)', () => {
    expect(created(reconcileService(job({ ReplicatedJob: {} }), [], nodes, 1000))).toEqual([0]);
    expect(created(reconcileService(job({ ReplicatedJob: { MaxConcurrent: 3 } }), [], nodes, 1000))).toEqual([0, 1, 2]);
  });

  it('lets a completed task go, never replaces it, and starts the next slot in the room it leaves', () => {
    const svc = replicatedJob(2, 4);
    const done = jobTask(svc, 0, { state: 'complete' });
    const plan = reconcileService(svc, [done, jobTask(svc, 1)], nodes, 1000);
    expect(plan.shutdown).toEqual([{ taskId: done.id, message: 'task complete' }]);
    expect(created(plan)).toEqual([2]);
  });

  it('is done once every slot completed: nothing to do, nothing to wake for, whatever the restart policy', () => {
    for (const policy of [{}, { Condition: 'any', Delay: 0 }]) {
      const svc = replicatedJob(2, 3, { RestartPolicy: policy });
      expect(reconcileService(svc, [0, 1, 2].map((slot) => completed(svc, slot)), nodes, 1e9)).toEqual({ create: [], shutdown: [] });
    }
  });

  it('restarts a failed task in its slot after the delay; the slot keeps its place in MaxConcurrent meanwhile', () => {
    const svc = replicatedJob(1, 2, { RestartPolicy: { Condition: 'on-failure', Delay: 5 * SECOND } });
    const failed = jobTask(svc, 0, { state: 'failed', statusAt: 10_000 });
    const early = reconcileService(svc, [failed], nodes, 12_000);
    expect(early).toEqual({ create: [], shutdown: [{ taskId: failed.id, message: 'task failed' }], wakeAt: 15_000 });
    const stoppedTask = { ...failed, desiredState: 'shutdown' as const };
    expect(reconcileService(svc, [stoppedTask], nodes, 14_999).create).toEqual([]);
    expect(reconcileService(svc, [stoppedTask], nodes, 15_000).create).toEqual([{ slot: 0, nodeId: null }]);
  });

  it('restarts a failed slot even when fresh slots fill MaxConcurrent, as it was one of them', () => {
    const svc = replicatedJob(2, 4, { RestartPolicy: { Delay: 0 } });
    const failed = jobTask(svc, 0, { state: 'failed', desiredState: 'shutdown' });
    expect(created(reconcileService(svc, [failed, jobTask(svc, 1)], nodes, 1000))).toEqual([0]);
  });

  it('gives a slot up when the restart policy says so, and goes on with the others', () => {
    const none = replicatedJob(1, 3, { RestartPolicy: { Condition: 'none' } });
    expect(created(reconcileService(none, [jobTask(none, 0, { state: 'failed', desiredState: 'shutdown' })], nodes, 1e9))).toEqual([1]);
    const twice = replicatedJob(1, 2, { RestartPolicy: { Delay: 0, MaxAttempts: 1 } });
    const attempts = [1, 2].map((createdAt) => jobTask(twice, 0, { state: 'failed', desiredState: 'shutdown', createdAt }));
    expect(created(reconcileService(twice, attempts, nodes, 1e9))).toEqual([1]);
  });

  it('replaces a task lost with its node at once, in its slot', () => {
    const svc = replicatedJob(1, 2);
    const lost = jobTask(svc, 0, { nodeId: 'n3' });
    const plan = reconcileService(svc, [lost], [...nodes, node('n3', { state: 'down' })], 1000);
    expect(plan).toEqual({ create: [{ slot: 0, nodeId: null }], shutdown: [{ taskId: lost.id, message: 'node down' }] });
  });

  it('a new iteration runs the job again: the old one\'s tasks are history, and one still running is stopped', () => {
    const before = replicatedJob(2, 3);
    const after = replicatedJob(2, 3, {}, 1);
    const old = [completed(before, 0), completed(before, 1), jobTask(before, 2)];
    const plan = reconcileService(after, old, nodes, 1000);
    expect(plan.shutdown).toEqual([{ taskId: old[2]!.id, message: 'superseded by a new job iteration' }]);
    expect(created(plan)).toEqual([0, 1]);
  });

  it('has no rollout: no update status, and a task of another spec finishes in its slot', () => {
    const svc = replicatedJob(1, 1);
    const plan = reconcileService({ ...svc, updateStatus: { State: 'updating', Message: 'x' } }, [jobTask(svc, 0, { specHash: 'older' })], nodes, 1000);
    expect(plan).toEqual({ create: [], shutdown: [] });
  });
});

describe('reconcileService: global jobs', () => {
  const global = (iteration = 0, template: Record<string, unknown> = {}) => job({ GlobalJob: {} }, iteration, template);

  it('runs one task on every ready, active node at once', () => {
    const plan = reconcileService(global(), [], [node('n1'), node('n2'), node('d', { availability: 'drain' }), node('p', { availability: 'pause' })], 1000);
    expect(plan.create).toEqual([{ slot: 0, nodeId: 'n1' }, { slot: 0, nodeId: 'n2' }]);
  });

  it('runs once per node: a node whose task completed is done, a failed one is restarted, a new node gets one', () => {
    const svc = global(0, { RestartPolicy: { Delay: 0 } });
    const tasks = [completed(svc, 0, { nodeId: 'n1' }), jobTask(svc, 0, { nodeId: 'n2', state: 'failed', desiredState: 'shutdown' })];
    const plan = reconcileService(svc, tasks, [...nodes, node('n3')], 1000);
    expect(plan.create).toEqual([{ slot: 0, nodeId: 'n2' }, { slot: 0, nodeId: 'n3' }]);
  });

  it('runs again on every node in a new iteration', () => {
    const before = global();
    const plan = reconcileService(global(1), [completed(before, 0, { nodeId: 'n1' }), completed(before, 0, { nodeId: 'n2' })], nodes, 1000);
    expect(plan.create).toEqual([{ slot: 0, nodeId: 'n1' }, { slot: 0, nodeId: 'n2' }]);
    expect(stopped(plan)).toEqual([]);
  });
});
