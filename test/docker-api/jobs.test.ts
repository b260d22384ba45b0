import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orchestrateCluster } from '../../control-plane/orchestrator/orchestrate.ts';
import { createTestApp, type InProcessNode, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, enc, expectRefusedWithoutChange, json } from './helpers.ts';

/**
 * Job modes through the Docker API, with one node joined in-process: its reports are what an
 * agent would send, and the leader's passes run here. Every answer is checked against the Engine
 * API definitions by the harness, JobStatus and the tasks' JobIteration included.
 */
let t: TestApp;
let node: InProcessNode;
beforeAll(async () => {
  t = await createTestApp();
  node = await joinInProcess(t, { hostname: 'worker-a' });
});
afterAll(() => t.close());

/** As `docker service create --mode … --restart-delay 0s` posts it (the CLI posts no restart policy by default). */
const job = (name: string, mode: Record<string, unknown>) => serviceSpec(name, 1, { Mode: mode, TaskTemplate: { ...serviceSpec(name).TaskTemplate, RestartPolicy: { Delay: 0 } } });
const pass = () => t.deps.database.write((tx) => orchestrateCluster(tx, t.clusterId, Date.now(), { schedule: true }));
const inspect = async (id: string) => json(await t.request('GET', `/v1.41/services/${id}`));
const tasksOf = async (id: string) => (await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc({ service: [id] })}`))).sort((a, b) => a.Slot - b.Slot || a.CreatedAt.localeCompare(b.CreatedAt));
const serviceStatus = async (id: string) => (await json<any[]>(await t.request('GET', '/v1.41/services?status=true'))).find((s) => s.ID === id).ServiceStatus;
/** The node's agent runs the task to its end and says so. */
async function runToEnd(taskId: string, end: 'complete' | 'failed') {
  for (const state of ['running', end]) expect(await node.report(taskId, state)).toEqual({ taskId, ok: true });
}
const live = (tasks: any[]) => tasks.filter((x) => x.Status.State !== 'complete' && x.Status.State !== 'failed');

describe('creating jobs', () => {
  it('stores a replicated job\'s counts with dockerd\'s defaults, since the CLI reads both', async () => {
    const cases: [Record<string, unknown>, Record<string, number>][] = [
      [{}, { MaxConcurrent: 1, TotalCompletions: 1 }],
      [{ MaxConcurrent: 2 }, { MaxConcurrent: 2, TotalCompletions: 2 }],
      [{ MaxConcurrent: 2, TotalCompletions: 5 }, { MaxConcurrent: 2, TotalCompletions: 5 }],
    ];
    for (const [i, [posted, stored]] of cases.entries()) {
      const s = await inspect(await createService(t, job(`defaults${i}`, { ReplicatedJob: posted })));
      expect(s.Spec.Mode).toEqual({ ReplicatedJob: stored });
    }
  });

  it('gives a job a JobStatus at iteration 0 and no UpdateStatus; other services have none', async () => {
    const before = Date.now();
    const s = await inspect(await createService(t, job('status', { GlobalJob: {} })));
    expect(s.JobStatus.JobIteration).toEqual({ Index: 0 });
    expect(Date.parse(s.JobStatus.LastExecution)).toBeGreaterThanOrEqual(before - 1);
    expect(s.UpdateStatus).toBeUndefined();
    expect((await inspect(await createService(t, serviceSpec('plain')))).JobStatus).toBeUndefined();
  });

  it('makes MaxConcurrent tasks at once, in slots from 0, of iteration 0 and desired complete', async () => {
    const id = await createService(t, job('first', { ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 5 } }));
    const tasks = await tasksOf(id);
    expect(tasks.map((x) => [x.Slot, x.JobIteration, x.DesiredState])).toEqual([
      [0, { Index: 0 }, 'complete'],
      [1, { Index: 0 }, 'complete'],
    ]);
  });

  it('lists jobs under their own mode filter', async () => {
    const list = async (mode: string) => (await json<any[]>(await t.request('GET', `/v1.41/services?filters=${enc({ mode: [mode] })}`))).map((s) => s.Spec.Name);
    expect(await list('global-job')).toEqual(['status']);
    expect(await list('replicated')).toEqual(['plain']);
  });
});

describe('running a replicated job', () => {
  let id: string;
  beforeAll(async () => {
    id = await createService(t, job('batch', { ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 3 } }));
    await pass();
  });

  it('runs to TotalCompletions, MaxConcurrent at a time; completed tasks stay listed as complete', async () => {
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 0, DesiredTasks: 2, CompletedTasks: 0 });
    const [first, second] = await tasksOf(id);
    await runToEnd(first.ID, 'complete');
    expect(await node.report(second.ID, 'running')).toMatchObject({ ok: true });
    await pass();
    // docker service ls: "1/2 (1/3 completed)"; the completed slot made room for the last one.
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 1, DesiredTasks: 2, CompletedTasks: 1 });
    const third = (await tasksOf(id)).find((x) => x.Slot === 2);
    expect(third.Status.State).toBe('assigned');
    await runToEnd(third.ID, 'complete');
    expect(await node.report(second.ID, 'complete')).toMatchObject({ ok: true });
    await pass();
    await pass();
    const tasks = await tasksOf(id);
    expect(tasks.map((x) => [x.Slot, x.Status.State, x.DesiredState])).toEqual([
      [0, 'complete', 'complete'],
      [1, 'complete', 'complete'],
      [2, 'complete', 'complete'],
    ]);
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 0, DesiredTasks: 2, CompletedTasks: 3 });
  });

  it('an update runs the job again as a new iteration; the old one\'s tasks are history and not counted', async () => {
    const s = await inspect(id);
    const spec = structuredClone(s.Spec);
    spec.TaskTemplate.ForceUpdate = 1; // docker service update --force
    await json(await t.request('POST', `/v1.41/services/${id}/update?version=${s.Version.Index}`, spec));
    const after = await inspect(id);
    expect(after.JobStatus.JobIteration).toEqual({ Index: 1 });
    expect(Date.parse(after.JobStatus.LastExecution)).toBeGreaterThanOrEqual(Date.parse(s.JobStatus.LastExecution));
    expect(after.UpdateStatus).toBeUndefined();
    const tasks = await tasksOf(id);
    expect(tasks.filter((x) => x.JobIteration.Index === 0).map((x) => x.Status.State)).toEqual(['complete', 'complete', 'complete']);
    expect(tasks.filter((x) => x.JobIteration.Index === 1).map((x) => [x.Slot, x.DesiredState])).toEqual([
      [0, 'complete'],
      [1, 'complete'],
    ]);
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 0, DesiredTasks: 2, CompletedTasks: 0 });
  });

  it('replaces a failed task in its slot, on the restart policy (the default restarts on failure)', async () => {
    await pass();
    const [first, second] = live(await tasksOf(id));
    await runToEnd(first.ID, 'failed');
    await runToEnd(second.ID, 'complete');
    await pass();
    const slot = (await tasksOf(id)).filter((x) => x.Slot === first.Slot && x.JobIteration.Index === 1);
    expect(slot.map((x) => [x.Status.State, x.DesiredState])).toEqual([
      ['failed', 'shutdown'],
      ['assigned', 'complete'],
    ]);
    // Only this iteration's completion counts: "0/2 (1/3 completed)".
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 0, DesiredTasks: 2, CompletedTasks: 1 });
  });
});

describe('running a global job', () => {
  it('runs once on each node; docker service ls shows "0/0 (1/1 completed)"', async () => {
    const id = await createService(t, job('everywhere', { GlobalJob: {} }));
    const [task] = await tasksOf(id);
    expect(task).toMatchObject({ Slot: 0, NodeID: node.nodeId, JobIteration: { Index: 0 }, DesiredState: 'complete' });
    await pass();
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 0, DesiredTasks: 1, CompletedTasks: 0 });
    await runToEnd(task.ID, 'complete');
    await pass();
    await pass();
    expect((await tasksOf(id)).map((x) => x.Status.State)).toEqual(['complete']);
    expect(await serviceStatus(id)).toEqual({ RunningTasks: 0, DesiredTasks: 0, CompletedTasks: 1 });
  });
});

describe('updates a job refuses', () => {
  it('changing a job\'s mode, either way, as swarmkit refuses it', async () => {
    const id = await createService(t, job('fixed', { ReplicatedJob: {} }));
    const plain = await createService(t, serviceSpec('stays'));
    for (const [target, mode] of [[id, { Replicated: { Replicas: 1 } }], [id, { GlobalJob: {} }], [plain, { ReplicatedJob: {} }]] as const) {
      const s = await inspect(target);
      await expectRefusedWithoutChange(
        t,
        () => t.request('POST', `/v1.41/services/${target}/update?version=${s.Version.Index}`, { ...s.Spec, Mode: mode }),
        400,
        /^service mode change is not allowed \(.* → .*\): remove the service and create it again$/,
      );
    }
  });
});
