import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeInfo, SimAgent } from '../harness/sim-agent.ts';
import { type SimCluster, startSimCluster, tasksWhere } from '../harness/sim-cluster.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

// Faulty and hostile agents against a real control plane process: refused, and nothing corrupted.
describe('bad agent input', () => {
  let c: SimCluster;
  let honest: SimAgent;
  /** An agent that reports only what the test tells it to. */
  let manual: SimAgent;
  let serviceId: string;
  let taskId: string;

  beforeAll(async () => {
    c = await startSimCluster();
    honest = await c.addAgent({ labels: { who: 'honest' } });
    manual = await c.addAgent({ labels: { who: 'manual' } }, { autoRun: false });
    serviceId = await c.api.createService(serviceSpec('target', { replicas: 1, constraints: ['node.labels.who==manual'] }));
    await manual.waitFor((ts) => ts.some((t) => t.serviceId === serviceId));
    taskId = manual.tasks.find((t) => t.serviceId === serviceId)!.taskId;
  });
  afterAll(() => c?.close());

  const task = async (id = taskId) => c.api.request('GET', `/tasks/${id}`);

  it('moves a task forward, and refuses a replayed report without changing anything', async () => {
    const first = await manual.report([{ taskId, state: 'accepted' }, { taskId, state: 'running', message: 'started' }]);
    expect(first.body.results).toEqual([{ taskId, ok: true }, { taskId, ok: true }]);
    const before = await task();
    expect(before.Status.State).toBe('running');

    const replay = await manual.report([{ taskId, state: 'running', message: 'started' }]);
    expect(replay.status).toBe(200);
    expect(replay.body.results[0]).toMatchObject({ taskId, ok: false });
    expect(replay.body.results[0]!.error).toMatch(/only move forward/);
    const after = await task();
    expect(after.Version.Index).toBe(before.Version.Index);
    expect(after.Status).toEqual(before.Status);
  });

  it('refuses backward transitions, and stale reports that arrive out of order', async () => {
    const before = await task();
    for (const state of ['starting', 'accepted', 'assigned', 'pending', 'new'] as const) {
      const r = await manual.report([{ taskId, state, timestamp: Date.now() - 60_000 }]);
      expect(r.body.results[0]).toMatchObject({ ok: false });
    }
    expect((await task()).Status).toEqual(before.Status);
    expect((await task()).Version.Index).toBe(before.Version.Index);
  });

  it('refuses reports about other nodes\' tasks and unknown tasks', async () => {
    const before = await task();
    const r = await honest.report([
      { taskId, state: 'failed', err: 'forged' },
      { taskId: 'notatask0000000000000000x', state: 'running' },
    ]);
    expect(r.body.results.map((x) => x.ok)).toEqual([false, false]);
    expect(r.body.results[0]!.error).toMatch(/not assigned to this node/);
    const after = await task();
    expect(after.Status).toEqual(before.Status);
    expect(after.Status.Err).toBeUndefined();
  });

  it('refuses reports with unknown states, and a malformed report harms no other agent\'s batch', async () => {
    const id = await c.api.createService(serviceSpec('honest-svc', { replicas: 1, constraints: ['node.labels.who==honest'] }));
    const r = await manual.report([{ taskId, state: 'exploded' as never }]);
    expect(r.body.results[0]).toMatchObject({ ok: false });
    expect(r.body.results[0]!.error).toMatch(/unknown task state/);
    // Garbage in fields the control plane stores is refused per report, while another agent's
    // reports, batched into the same transaction, still go through.
    const before = await task();
    const garbage = [
      { taskId, state: 'complete', timestamp: 'yesterday' as never },
      { taskId, state: 'complete', message: { no: 1 } as never },
      { taskId, state: 'complete', err: 42 as never },
      { taskId, state: 'complete', containerStatus: 'gone' as never },
    ] as const;
    const replies = garbage.map((g) => manual.report([g]));
    const running = await tasksWhere(c.api, id, (ts) => ts.length === 1 && ts[0].Status.State === 'running');
    expect(running[0].NodeID).toBe(honest.nodeId);
    for (const reply of await Promise.all(replies)) {
      expect(reply.status).toBe(200);
      expect(reply.body.results[0]).toMatchObject({ ok: false });
      expect(reply.body.results[0]!.error).toMatch(/invalid report/);
    }
    expect(await task()).toEqual(before);
    // A non-array is refused outright.
    expect((await manual.call('POST', '/status', { reports: 'running' })).status).toBe(400);
  });

  it('refuses reports about a task that already ended', async () => {
    const id = await c.api.createService(serviceSpec('ends', { replicas: 1, constraints: ['node.labels.who==manual'], restart: { Condition: 'none' } }));
    await manual.waitFor((ts) => ts.some((t) => t.serviceId === id));
    const t = manual.tasks.find((x) => x.serviceId === id)!.taskId;
    expect((await manual.report([{ taskId: t, state: 'running' }, { taskId: t, state: 'complete' }])).body.results.every((x) => x.ok)).toBe(true);
    const late = await manual.report([{ taskId: t, state: 'failed', err: 'late' }]);
    expect(late.body.results[0]!.error).toMatch(/already ended/);
    const row = await task(t);
    expect(row.Status.State).toBe('complete');
    expect(row.Status.Err).toBeUndefined();
  });

  it('refuses a join with a used single-use token, and with a rotated token', async () => {
    const single = await c.api.singleUseToken();
    const first = new SimAgent(c.cp.url, nodeInfo());
    expect((await first.join(single)).status).toBe(200);
    const second = new SimAgent(c.cp.url, nodeInfo());
    const reused = await second.join(single);
    expect(reused.status).toBe(401);
    expect(reused.body.message).toMatch(/already used/);

    const old = await c.api.workerToken();
    await c.api.rotateWorkerToken();
    const rotated = await new SimAgent(c.cp.url, nodeInfo()).join(old);
    expect(rotated.status).toBe(401);
    expect(rotated.body.message).toMatch(/rotated or revoked/);
    const fresh = await new SimAgent(c.cp.url, nodeInfo()).join(await c.api.workerToken());
    expect(fresh.status).toBe(200);
    // Agents that joined before the rotation keep working: rotation ends tokens, not nodes.
    expect((await honest.report([])).status).toBe(200);
  });

  it('of joins racing on a single-use token, exactly one wins', async () => {
    for (let round = 0; round < 3; round++) {
      const single = await c.api.singleUseToken();
      const replies = await Promise.all(Array.from({ length: 8 }, () => new SimAgent(c.cp.url, nodeInfo()).join(single)));
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      expect(replies.filter((r) => r.status === 401)).toHaveLength(7);
    }
    const nodes = await c.api.request<any[]>('GET', '/nodes');
    // manager entry + honest + manual + single-use + fresh + 3 race winners
    expect(nodes).toHaveLength(8);
  });

  it('after all of it, each slot has one live task and each task is on one node', async () => {
    const all = await c.api.tasks();
    const live = all.filter((t) => t.DesiredState === 'running');
    const slots = live.map((t) => `${t.ServiceID}/${t.Slot || t.NodeID}`);
    expect(new Set(slots).size).toBe(slots.length);
    const target = live.filter((t) => t.ServiceID === serviceId);
    expect(target).toHaveLength(1);
    expect(target[0].NodeID).toBe(manual.nodeId);
  });
});
