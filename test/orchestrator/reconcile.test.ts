import { describe, expect, it } from 'vitest';
import { type Plan, reconcileService, type ServiceView, type TaskView } from '../../control-plane/orchestrator/reconcile.ts';
import { type ServiceSpec, specHashOf } from '../../control-plane/swarm/service-spec.ts';
import { created, node, SECOND, stopped, task } from './plan-fixtures.ts';

function spec(extra: Partial<ServiceSpec> = {}, template: Record<string, unknown> = {}): ServiceSpec {
  return {
    Name: 'web',
    TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, ...template },
    Mode: { Replicated: { Replicas: 3 } },
    ...extra,
  };
}

function service(s: ServiceSpec, updateStatus: ServiceView['updateStatus'] = null, previousSpec: ServiceSpec | null = null): ServiceView {
  return { id: 'svc', spec: s, specHash: specHashOf(s), previousSpec, updateStatus };
}

/** Tasks of `svc` running in the given slots on n1. */
function running(svc: ServiceView, slots: number[], extra: Partial<TaskView> = {}) {
  return slots.map((slot) => task({ slot, specHash: svc.specHash, ...extra }));
}

const nodes = [node('n1'), node('n2')];

describe('reconcileService: replicated slots', () => {
  it('fills every empty slot, with no node chosen yet', () => {
    const plan = reconcileService(service(spec()), [], nodes, 1000);
    expect(plan.create).toEqual([
      { slot: 1, nodeId: null },
      { slot: 2, nodeId: null },
      { slot: 3, nodeId: null },
    ]);
    expect(plan.shutdown).toEqual([]);
  });

  it('fills only the slots without a live task', () => {
    const svc = service(spec());
    const plan = reconcileService(svc, running(svc, [1, 3]), nodes, 1000);
    expect(created(plan)).toEqual([2]);
    expect(plan.shutdown).toEqual([]);
  });

  it('counts pending and starting tasks as filling their slot', () => {
    const svc = service(spec());
    const tasks = [task({ slot: 1, specHash: svc.specHash, state: 'pending', nodeId: null }), task({ slot: 2, specHash: svc.specHash, state: 'starting' })];
    expect(created(reconcileService(svc, tasks, nodes, 1000))).toEqual([3]);
  });

  it('scales down by stopping the slots above the replica count', () => {
    const svc = service(spec({ Mode: { Replicated: { Replicas: 2 } } }));
    const tasks = running(svc, [1, 2, 3, 4, 5]);
    const plan = reconcileService(svc, tasks, nodes, 1000);
    expect(stopped(plan)).toEqual(tasks.slice(2).map((t) => t.id));
    expect(plan.shutdown.every((s) => s.message === 'scaled down')).toBe(true);
    expect(plan.create).toEqual([]);
  });

  it('scales to zero', () => {
    const svc = service(spec({ Mode: { Replicated: { Replicas: 0 } } }));
    const tasks = running(svc, [1, 2]);
    expect(stopped(reconcileService(svc, tasks, nodes, 1000))).toEqual(tasks.map((t) => t.id));
  });

  it('keeps the newest of two live tasks in one slot', () => {
    const svc = service(spec({ Mode: { Replicated: { Replicas: 1 } } }));
    const [older, newer] = running(svc, [1, 1]);
    const plan = reconcileService(svc, [newer!, older!], nodes, 1000);
    expect(plan.shutdown).toEqual([{ taskId: older!.id, message: 'duplicate task in slot' }]);
    expect(plan.create).toEqual([]);
  });

  it('leaves tasks already stopping alone and does not count them as filling the slot', () => {
    const svc = service(spec({ Mode: { Replicated: { Replicas: 1 } } }));
    const old = task({ slot: 1, specHash: svc.specHash, desiredState: 'shutdown', state: 'running' });
    const plan = reconcileService(svc, [old], nodes, 1000);
    expect(plan.shutdown).toEqual([]);
    expect(created(plan)).toEqual([1]);
  });
});

describe('reconcileService: nodes that went away', () => {
  const svc = service(spec({ Mode: { Replicated: { Replicas: 1 } } }));
  for (const [why, n, message] of [
    ['drained', node('n1', { availability: 'drain' }), 'node drained'],
    ['down', node('n1', { state: 'down' }), 'node down'],
  ] as const) {
    it(`stops a task on a ${why} node and replaces it in the same slot`, () => {
      const [t] = running(svc, [1]);
      const plan = reconcileService(svc, [t!], [n, node('n2')], 1000);
      expect(plan.shutdown).toEqual([{ taskId: t!.id, message }]);
      expect(plan.create).toEqual([{ slot: 1, nodeId: null }]);
    });
  }

  it('stops a task whose node was removed', () => {
    const [t] = running(svc, [1], { nodeId: 'gone' });
    expect(reconcileService(svc, [t!], nodes, 1000).shutdown).toEqual([{ taskId: t!.id, message: 'node removed' }]);
  });

  it('keeps a task on a paused node', () => {
    const [t] = running(svc, [1]);
    const plan = reconcileService(svc, [t!], [node('n1', { availability: 'pause' })], 1000);
    expect(plan).toEqual({ create: [], shutdown: [] });
  });
});

describe('reconcileService: restart policy', () => {
  const withPolicy = (policy: Record<string, unknown>) => service(spec({ Mode: { Replicated: { Replicas: 1 } } }, { RestartPolicy: policy }));

  it('condition any: restarts a failed task after the delay, and says when to come back', () => {
    const svc = withPolicy({ Condition: 'any', Delay: 5 * SECOND });
    const failed = task({ slot: 1, specHash: svc.specHash, state: 'failed', statusAt: 10_000 });
    const early = reconcileService(svc, [failed], nodes, 12_000);
    expect(early.shutdown).toEqual([{ taskId: failed.id, message: 'task failed' }]);
    expect(early.create).toEqual([]);
    expect(early.wakeAt).toBe(15_000);
    // Next pass: the failed task is stopped (not live); at the due time the slot is filled.
    const stoppedTask = { ...failed, desiredState: 'shutdown' as const };
    expect(reconcileService(svc, [stoppedTask], nodes, 14_999).create).toEqual([]);
    expect(created(reconcileService(svc, [stoppedTask], nodes, 15_000))).toEqual([1]);
  });

  it('condition any restarts a completed task too; the default delay is 5 s', () => {
    const svc = withPolicy({});
    const done = task({ slot: 1, specHash: svc.specHash, state: 'complete', statusAt: 0, desiredState: 'shutdown' });
    expect(reconcileService(svc, [done], nodes, 4_999).wakeAt).toBe(5_000);
    expect(created(reconcileService(svc, [done], nodes, 5_000))).toEqual([1]);
  });

  it('condition none: never restarts, and asks for no wake-up', () => {
    const svc = withPolicy({ Condition: 'none', Delay: 0 });
    const failed = task({ slot: 1, specHash: svc.specHash, state: 'failed', desiredState: 'shutdown' });
    const plan = reconcileService(svc, [failed], nodes, 1e9);
    expect(plan).toEqual({ create: [], shutdown: [] });
  });

  it('condition on-failure: restarts failed and rejected tasks, not completed ones', () => {
    const svc = withPolicy({ Condition: 'on-failure', Delay: 0 });
    for (const state of ['failed', 'rejected'] as const) {
      expect(created(reconcileService(svc, [task({ slot: 1, specHash: svc.specHash, state, desiredState: 'shutdown' })], nodes, 1e9))).toEqual([1]);
    }
    expect(reconcileService(svc, [task({ slot: 1, specHash: svc.specHash, state: 'complete', desiredState: 'shutdown' })], nodes, 1e9).create).toEqual([]);
  });

  it('a task stopped by the control plane is replaced at once, whatever the policy', () => {
    const svc = withPolicy({ Condition: 'none', Delay: 60 * SECOND });
    const shut = task({ slot: 1, specHash: svc.specHash, state: 'shutdown', desiredState: 'shutdown', statusAt: 1000 });
    expect(created(reconcileService(svc, [shut], nodes, 1000))).toEqual([1]);
  });

  it('MaxAttempts counts restarts: the first task plus N more', () => {
    const svc = withPolicy({ Condition: 'any', Delay: 0, MaxAttempts: 2 });
    const failed = (createdAt: number) => task({ slot: 1, specHash: svc.specHash, state: 'failed', desiredState: 'shutdown', createdAt, statusAt: createdAt + 1 });
    const history = [failed(1)];
    expect(created(reconcileService(svc, history, nodes, 100))).toEqual([1]); // restart 1
    history.push(failed(10));
    expect(created(reconcileService(svc, history, nodes, 100))).toEqual([1]); // restart 2
    history.push(failed(20));
    const plan = reconcileService(svc, history, nodes, 100);
    expect(plan.create).toEqual([]);
    expect(plan.wakeAt).toBeUndefined();
  });

  it('replacements after a node failure are not restarts', () => {
    const svc = withPolicy({ Condition: 'any', Delay: 0, MaxAttempts: 1 });
    const lost = task({ slot: 1, specHash: svc.specHash, state: 'orphaned', desiredState: 'shutdown', createdAt: 1 });
    const failed = task({ slot: 1, specHash: svc.specHash, state: 'failed', desiredState: 'shutdown', createdAt: 2 });
    expect(created(reconcileService(svc, [lost, failed], nodes, 100))).toEqual([1]);
  });

  it('with a Window, only restarts within it count; the slot comes back when the oldest leaves it', () => {
    const svc = withPolicy({ Condition: 'any', Delay: 0, MaxAttempts: 2, Window: 60 * SECOND });
    const failed = (createdAt: number) => task({ slot: 1, specHash: svc.specHash, state: 'failed', desiredState: 'shutdown', createdAt, statusAt: createdAt + 1000 });
    const history = [failed(0), failed(10_000), failed(20_000)]; // two restarts, at 10 s and 20 s
    const plan = reconcileService(svc, history, nodes, 30_000);
    expect(plan.create).toEqual([]);
    expect(plan.wakeAt).toBe(70_000);
    expect(reconcileService(svc, history, nodes, 69_999).create).toEqual([]);
    expect(created(reconcileService(svc, history, nodes, 70_001))).toEqual([1]);
  });
});

describe('reconcileService: rolling update, stop-first', () => {
  const v1 = spec({ Mode: { Replicated: { Replicas: 3 } } });
  const v2 = spec({ Mode: { Replicated: { Replicas: 3 } } }, { ContainerSpec: { Image: 'local/busybox:2' } });
  const updating = { State: 'updating' as const, StartedAt: '2026-01-01T00:00:00.000Z', Message: 'update in progress' };

  /** Applies a plan to the task list the way orchestrate.ts would, then runs `agent` on it. */
  function step(svc: ServiceView, tasks: TaskView[], now: number): { plan: Plan; tasks: TaskView[] } {
    const plan = reconcileService(svc, tasks, nodes, now);
    const stopping = new Set(stopped(plan));
    const next = tasks.map((t) => (stopping.has(t.id) ? { ...t, desiredState: 'shutdown' as const } : t));
    for (const c of plan.create) next.push(task({ slot: c.slot, specHash: svc.specHash, state: 'pending', nodeId: null, createdAt: now, statusAt: now }));
    return { plan, tasks: next };
  }

  it('replaces one slot at a time: stop, wait for it to stop, start, wait for running, next', () => {
    const old = service(v1);
    const svc = service(v2, updating);
    let tasks = running(old, [1, 2, 3]);
    let now = 1000;

    let r = step(svc, tasks, now++);
    expect(r.plan.shutdown).toEqual([{ taskId: tasks[0]!.id, message: 'updated to a new spec' }]);
    expect(r.plan.create).toEqual([]);
    tasks = r.tasks;

    // Slot 1's old task is still stopping: nothing else moves.
    r = step(svc, tasks, now++);
    expect(r.plan).toEqual({ create: [], shutdown: [] });

    // It stopped: slot 1 gets its new task, and no other slot is touched in the same pass.
    tasks = tasks.map((t) => (t.desiredState === 'shutdown' ? { ...t, state: 'shutdown' } : t));
    r = step(svc, tasks, now++);
    expect(r.plan.create).toEqual([{ slot: 1, nodeId: null }]);
    expect(r.plan.shutdown).toEqual([]);
    tasks = r.tasks;

    // The new task is not running yet: still one slot in flight.
    r = step(svc, tasks, now++);
    expect(r.plan).toEqual({ create: [], shutdown: [] });

    // Running: the next slot goes.
    tasks = tasks.map((t) => (t.specHash === svc.specHash ? { ...t, state: 'running', nodeId: 'n2' } : t));
    r = step(svc, tasks, now++);
    expect(r.plan.shutdown.map((s) => tasks.find((t) => t.id === s.taskId)!.slot)).toEqual([2]);
    expect(r.plan.updateStatus).toBeUndefined();
  });

  it('with parallelism 2 replaces two slots at once; parallelism 0 means all', () => {
    const old = service(v1);
    const tasks = running(old, [1, 2, 3]);
    const two = service({ ...v2, UpdateConfig: { Parallelism: 2 } }, updating);
    expect(reconcileService(two, tasks, nodes, 1000).shutdown).toHaveLength(2);
    const all = service({ ...v2, UpdateConfig: { Parallelism: 0 } }, updating);
    expect(reconcileService(all, tasks, nodes, 1000).shutdown).toHaveLength(3);
  });

  it('rolls back with the rollback parallelism', () => {
    const old = service(v2);
    const back = service({ ...v1, UpdateConfig: { Parallelism: 3 }, RollbackConfig: { Parallelism: 1 } }, { ...updating, State: 'rollback_started' });
    expect(reconcileService(back, running(old, [1, 2, 3]), nodes, 1000).shutdown).toHaveLength(1);
  });

  it('does not wait for an old task on a down node', () => {
    const old = service(v1);
    const svc = service(v2, updating);
    const gone = task({ slot: 1, specHash: old.specHash, desiredState: 'shutdown', state: 'running', nodeId: 'n3' });
    const plan = reconcileService(svc, [gone, ...running(svc, [2, 3])], [...nodes, node('n3', { state: 'down' })], 1000);
    expect(plan.create).toEqual([{ slot: 1, nodeId: null }]);
  });

  it('marks the update completed once every slot runs the new spec', () => {
    const svc = service(v2, updating);
    const tasks = running(svc, [1, 2, 3]);
    const plan = reconcileService(svc, tasks, nodes, Date.parse('2026-01-01T00:01:00.000Z'));
    expect(plan.updateStatus).toEqual({ ...updating, State: 'completed', CompletedAt: '2026-01-01T00:01:00.000Z', Message: 'update completed' });
    // Not while one is still starting.
    tasks[2] = { ...tasks[2]!, state: 'starting' };
    expect(reconcileService(svc, tasks, nodes, 1000).updateStatus).toBeUndefined();
  });

  it('marks a rollback completed', () => {
    const svc = service(v1, { ...updating, State: 'rollback_started' });
    expect(reconcileService(svc, running(svc, [1, 2, 3]), nodes, 100_000).updateStatus?.State).toBe('rollback_completed');
  });

  it('completes only once the last new task has run for the Monitor period, and comes back then', () => {
    const svc = service(v2, updating);
    const tasks = running(svc, [1, 2, 3]).map((t, i) => ({ ...t, statusAt: 10_000 + i }));
    const early = reconcileService(svc, tasks, nodes, 12_000);
    expect(early.updateStatus).toBeUndefined();
    expect(early.wakeAt).toBe(10_002 + 5_000);
    expect(reconcileService(svc, tasks, nodes, 15_002).updateStatus?.State).toBe('completed');
    // A new task that crashes within the Monitor period is a failure of the update.
    const crashed = tasks.map((t, i) => (i === 2 ? { ...t, state: 'failed' as const, desiredState: 'shutdown' as const, createdAt: Date.parse(updating.StartedAt) + 1 } : t));
    expect(reconcileService(svc, crashed, nodes, 13_000).updateStatus?.State).toBe('paused');
  });

  it('leaves the update status alone when no update is under way', () => {
    const svc = service(v1, { ...updating, State: 'completed' });
    expect(reconcileService(svc, running(svc, [1, 2, 3]), nodes, 1000).updateStatus).toBeUndefined();
  });
});

describe('reconcileService: global services', () => {
  const g = spec({ Mode: { Global: {} } });
  const global = (template: Record<string, unknown> = {}) => service(spec({ Mode: { Global: {} } }, template));

  it('wants one task per ready, active node, made for that node', () => {
    const plan = reconcileService(service(g), [], [node('n1'), node('n2'), node('n3')], 1000);
    expect(plan.create).toEqual([
      { slot: 0, nodeId: 'n1' },
      { slot: 0, nodeId: 'n2' },
      { slot: 0, nodeId: 'n3' },
    ]);
  });

  it('skips drained, down and (for new tasks) paused nodes; keeps a paused node\'s task', () => {
    const svc = service(g);
    const onPaused = task({ slot: 0, nodeId: 'p', specHash: svc.specHash });
    const onDrained = task({ slot: 0, nodeId: 'dr', specHash: svc.specHash });
    const plan = reconcileService(
      svc,
      [onPaused, onDrained],
      [node('a'), node('dr', { availability: 'drain' }), node('d', { state: 'down' }), node('p', { availability: 'pause' }), node('p2', { availability: 'pause' })],
      1000,
    );
    expect(plan.create).toEqual([{ slot: 0, nodeId: 'a' }]);
    expect(plan.shutdown).toEqual([{ taskId: onDrained.id, message: 'node drained' }]);
  });

  it('keeps the task of a node that is down, so the node comes back to the same task; a replica there is replaced', () => {
    const svc = service(g);
    const kept = task({ slot: 0, nodeId: 'd', specHash: svc.specHash });
    const down = [node('a'), node('d', { state: 'down' })];
    const plan = reconcileService(svc, [kept, task({ slot: 0, nodeId: 'a', specHash: svc.specHash })], down, 1000);
    expect(plan).toEqual({ create: [], shutdown: [] });
    // Back: the same task holds the slot, nothing is made or stopped.
    expect(reconcileService(svc, [kept, task({ slot: 0, nodeId: 'a', specHash: svc.specHash })], [node('a'), node('d')], 2000)).toEqual({ create: [], shutdown: [] });
    // A replicated task on a down node runs somewhere else instead.
    const rep = service(spec({ Mode: { Replicated: { Replicas: 1 } } }));
    const away = task({ slot: 1, nodeId: 'd', specHash: rep.specHash });
    expect(reconcileService(rep, [away], down, 1000)).toEqual({ create: [{ slot: 1, nodeId: null }], shutdown: [{ taskId: away.id, message: 'node down' }] });
  });

  it('gives a down node no new task: not when its task had failed, nor when it had none', () => {
    const svc = global({ RestartPolicy: { Condition: 'any', Delay: 0 } });
    const failed = task({ slot: 0, nodeId: 'd', specHash: svc.specHash, state: 'failed' });
    const plan = reconcileService(svc, [failed], [node('d', { state: 'down' }), node('d2', { state: 'down' })], 1000);
    expect(plan).toEqual({ create: [], shutdown: [{ taskId: failed.id, message: 'task failed' }] });
  });

  it('follows constraints, and stops the task of a node that no longer matches', () => {
    const svc = global({ Placement: { Constraints: ['node.labels.edge==true'] } });
    const stale = task({ slot: 0, nodeId: 'n1', specHash: svc.specHash });
    const plan = reconcileService(svc, [stale], [node('n1'), node('n2', { labels: { edge: 'true' } })], 1000);
    expect(plan.create).toEqual([{ slot: 0, nodeId: 'n2' }]);
    expect(plan.shutdown).toEqual([{ taskId: stale.id, message: 'node no longer eligible' }]);
  });

  it('restarts per node under the restart policy', () => {
    const svc = global({ RestartPolicy: { Condition: 'on-failure', Delay: 0 } });
    const failed = task({ slot: 0, nodeId: 'n1', specHash: svc.specHash, state: 'failed', desiredState: 'shutdown' });
    const done = task({ slot: 0, nodeId: 'n2', specHash: svc.specHash, state: 'complete', desiredState: 'shutdown' });
    expect(reconcileService(svc, [failed, done], nodes, 1000).create).toEqual([{ slot: 0, nodeId: 'n1' }]);
  });
});

describe('reconcileService: rolling update, start-first', () => {
  const v1 = spec({ Mode: { Replicated: { Replicas: 2 } } });
  const v2 = spec({ Mode: { Replicated: { Replicas: 2 } }, UpdateConfig: { Order: 'start-first' } }, { ContainerSpec: { Image: 'local/busybox:2' } });
  const updating = { State: 'updating' as const, StartedAt: '2026-01-01T00:00:00.000Z', Message: 'update in progress' };

  it('starts the new task beside the old one, and stops the old one only once the new one runs', () => {
    const old = service(v1);
    const svc = service(v2, updating);
    const tasks = running(old, [1, 2]);

    // First pass: a new task for slot 1, the old one untouched.
    let plan = reconcileService(svc, tasks, nodes, 1000);
    expect(plan.create).toEqual([{ slot: 1, nodeId: null }]);
    expect(plan.shutdown).toEqual([]);

    // While the new task starts, both live in slot 1 and nothing else moves.
    const fresh = task({ slot: 1, specHash: svc.specHash, state: 'starting', createdAt: 2000, statusAt: 2000 });
    plan = reconcileService(svc, [...tasks, fresh], nodes, 2001);
    expect(plan).toEqual({ create: [], shutdown: [] });

    // Running: the old slot-1 task stops, and slot 2 gets its new task in the same pass.
    plan = reconcileService(svc, [...tasks, { ...fresh, state: 'running' }], nodes, 2002);
    expect(stopped(plan)).toEqual([tasks[0]!.id]);
    expect(plan.shutdown[0]!.message).toBe('replaced by an updated task');
    expect(plan.create).toEqual([{ slot: 2, nodeId: null }]);
  });

  it('restarts a failing replacement on the restart policy delay, keeping the old task running', () => {
    const old = service(v1);
    const svc = service(v2, updating);
    const tasks = running(old, [1, 2]);
    const failed = task({ slot: 1, specHash: svc.specHash, state: 'failed', desiredState: 'shutdown', createdAt: 2000, statusAt: 2000 });
    const plan = reconcileService(svc, [...tasks, failed], nodes, 3000);
    expect(plan.create).toEqual([]);
    expect(plan.shutdown).toEqual([]);
    expect(plan.wakeAt).toBe(2000 + 5000);
  });
});

describe('reconcileService: an update whose new tasks fail', () => {
  const v1 = spec({ Mode: { Replicated: { Replicas: 4 } } });
  const v2 = (update: Record<string, unknown> = {}) =>
    spec({ Mode: { Replicated: { Replicas: 4 } }, UpdateConfig: update }, { ContainerSpec: { Image: 'local/busybox:broken' } });
  const since = (ms: number) => ({ State: 'updating' as const, StartedAt: new Date(ms).toISOString(), Message: 'update in progress' });

  /** Slot 1 already runs the new spec and failed; slots 2-4 still run the old one. */
  function afterOneFailure(svc: ServiceView) {
    const old = service(v1);
    return [task({ slot: 1, specHash: svc.specHash, state: 'failed', desiredState: 'shutdown', createdAt: 1500, statusAt: 1600 }), ...running(old, [2, 3, 4])];
  }

  it('pauses by default: no further slot is replaced, and the status says which task failed', () => {
    const svc = service(v2(), since(1000));
    const tasks = afterOneFailure(svc);
    const plan = reconcileService(svc, tasks, nodes, 2000);
    expect(plan.updateStatus?.State).toBe('paused');
    expect(plan.updateStatus?.Message).toBe(`update paused due to failure or early termination of task ${tasks[0]!.id}`);
    expect(stopped(plan)).toEqual([]);
    // Once paused, later passes still replace nothing (the failed slot is restarted on its policy).
    const later = reconcileService({ ...svc, updateStatus: plan.updateStatus! }, tasks, nodes, 9000);
    expect(stopped(later)).toEqual([]);
    expect(later.updateStatus).toBeUndefined();
  });

  it('continues past failures with FailureAction continue', () => {
    const svc = service(v2({ FailureAction: 'continue' }), since(1000));
    const plan = reconcileService(svc, afterOneFailure(svc), nodes, 2000);
    expect(plan.updateStatus).toBeUndefined();
    expect(plan.shutdown).toHaveLength(1); // the next old slot goes
  });

  it('tolerates failures up to MaxFailureRatio of the tasks', () => {
    const svc = service(v2({ MaxFailureRatio: 0.25 }), since(1000));
    expect(reconcileService(svc, afterOneFailure(svc), nodes, 2000).updateStatus).toBeUndefined();
  });

  it('rolls back with FailureAction rollback', () => {
    const svc = service(v2({ FailureAction: 'rollback' }), since(1000), v1);
    const plan = reconcileService(svc, afterOneFailure(svc), nodes, 2000);
    expect(plan.rollback).toBe(true);
    expect(plan.updateStatus?.State).toBe('rollback_started');
    expect(plan.updateStatus?.Message).toContain('update rolled back due to failure');
  });

  it('a rollback starts at once: no task of the failed spec is made, and the next pass comes now', () => {
    const svc = service(v2({ FailureAction: 'rollback' }, ), since(1000), v1);
    const tasks = afterOneFailure(svc).map((t) => (t.slot === 1 ? { ...t, statusAt: 0 } : t)); // restart already due
    const plan = reconcileService({ ...svc, spec: { ...svc.spec, TaskTemplate: { ...svc.spec.TaskTemplate, RestartPolicy: { Delay: 0 } } } }, tasks, nodes, 2000);
    expect(plan.rollback).toBe(true);
    expect(plan.create).toEqual([]);
    expect(plan.wakeAt).toBe(2000);
  });

  it('pauses instead of rolling back when there is no previous spec to go back to', () => {
    const svc = service(v2({ FailureAction: 'rollback' }), since(1000), null);
    const tasks = afterOneFailure(svc);
    const plan = reconcileService(svc, tasks, nodes, 2000);
    expect(plan.rollback).toBeUndefined();
    expect(plan.updateStatus).toEqual({ State: 'paused', StartedAt: new Date(2000).toISOString(), Message: `update paused due to failure or early termination of task ${tasks[0]!.id}` });
    expect(plan.create).toEqual([]);
    expect(plan.wakeAt).toBe(2000);
  });

  it('resumes an update whose paused status a later write (a scale) cleared', () => {
    const svc = service(v2(), null);
    const old = service(v1);
    const plan = reconcileService(svc, running(old, [1, 2, 3, 4]), nodes, 2000);
    expect(plan.updateStatus?.State).toBe('updating');
    expect(plan.shutdown).toHaveLength(1);
  });

  it('ignores tasks that failed before the update began', () => {
    const svc = service(v2(), since(5000));
    expect(reconcileService(svc, afterOneFailure(svc), nodes, 6000).updateStatus).toBeUndefined();
  });
});

describe('reconcileService: a global update on a paused node', () => {
  it('keeps the node in the service while its old task is being replaced', () => {
    const v1 = spec({ Mode: { Global: {} } });
    const v2 = spec({ Mode: { Global: {} } }, { ContainerSpec: { Image: 'local/busybox:2' } });
    const svc = service(v2, { State: 'updating', StartedAt: new Date(0).toISOString(), Message: 'update in progress' });
    const paused = node('p1', { availability: 'pause' });
    const stopping = task({ slot: 0, nodeId: 'p1', specHash: service(v1).specHash, desiredState: 'shutdown', state: 'running' });
    const plan = reconcileService(svc, [stopping], [paused], 1000);
    // The update is not complete while the old task is still stopping there.
    expect(plan.updateStatus).toBeUndefined();
    expect(plan.create).toEqual([]);
  });
});
