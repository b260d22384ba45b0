import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/docker-cli.ts';
import type { SimAgent } from '../harness/sim-agent.ts';
import { perNode, type SimCluster, startSimCluster, tasksWhere } from '../harness/sim-cluster.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

// Replicated services against three simulated agents on a real control plane process.
describe('replicated services with simulated agents', () => {
  let c: SimCluster;
  let agents: SimAgent[];

  beforeAll(async () => {
    c = await startSimCluster({ HEARTBEAT_PERIOD_MS: '500' });
    agents = [];
    for (let i = 0; i < 3; i++) agents.push(await c.addAgent({ labels: { group: 'replicated' } }));
  });
  afterAll(() => c?.close());

  it('places N replicas across the agents, spread evenly, and they reach running as agents report', async () => {
    const id = await c.api.createService(serviceSpec('web', { replicas: 6 }));
    const live = await tasksWhere(c.api, id, (ts) => ts.length === 6 && ts.every((t) => t.Status.State === 'running'));
    expect(live.map((t) => t.Slot).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...perNode(live).values()]).toEqual([2, 2, 2]);
    expect(new Set(live.map((t) => t.NodeID))).toEqual(new Set(agents.map((a) => a.nodeId)));
    // Each agent was handed exactly its own tasks.
    for (const a of agents) {
      await a.waitFor((ts) => ts.filter((t) => t.serviceId === id && t.state === 'running').length === 2);
      const mine = live.filter((t) => t.NodeID === a.nodeId).map((t) => t.ID).sort();
      expect(a.runningTasks.filter((t) => t.serviceId === id).map((t) => t.taskId).sort()).toEqual(mine);
    }
  });

  it('scales up into new slots without touching running tasks', async () => {
    const id = (await c.api.service('web')).ID;
    const before = new Set((await c.api.liveTasks(id)).map((t) => t.ID));
    await c.api.scale('web', 9);
    const live = await tasksWhere(c.api, id, (ts) => ts.length === 9 && ts.every((t) => t.Status.State === 'running'));
    expect(live.map((t) => t.Slot).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...perNode(live).values()]).toEqual([3, 3, 3]);
    expect(live.filter((t) => before.has(t.ID))).toHaveLength(6);
  });

  it('scales down by stopping the highest slots; the agents stop them', async () => {
    const id = (await c.api.service('web')).ID;
    await c.api.scale('web', 2);
    const live = await tasksWhere(c.api, id, (ts) => ts.length === 2);
    expect(live.map((t) => t.Slot).sort()).toEqual([1, 2]);
    const all = await eventually(async () => {
      const ts = await c.api.tasks(id);
      const stopped = ts.filter((t) => t.DesiredState === 'shutdown');
      return stopped.length === 7 && stopped.every((t) => t.Status.State === 'shutdown') ? ts : undefined;
    });
    expect(all.filter((t) => t.DesiredState === 'shutdown').map((t) => t.Slot).sort()).toEqual([3, 4, 5, 6, 7, 8, 9]);
    // Scaling to zero stops everything and places nothing.
    await c.api.scale('web', 0);
    await tasksWhere(c.api, id, (ts) => ts.length === 0);
  });

  it('places nothing twice: every slot has at most one live task across the whole run', async () => {
    const id = await c.api.createService(serviceSpec('api', { replicas: 5 }));
    await tasksWhere(c.api, id, (ts) => ts.length === 5 && ts.every((t) => t.Status.State === 'running'));
    await c.api.scale('api', 8);
    await c.api.scale('api', 3);
    await c.api.scale('api', 7);
    const live = await tasksWhere(c.api, id, (ts) => ts.length === 7 && ts.every((t) => t.Status.State === 'running'));
    const slots = live.map((t) => t.Slot);
    expect(new Set(slots).size).toBe(7);
    // Every task an agent runs is one the control plane wants there, and no task is on two agents.
    const seen = new Map<string, string>();
    for (const a of agents) {
      for (const t of a.tasks) {
        expect(seen.get(t.taskId)).toBeUndefined();
        seen.set(t.taskId, a.nodeId);
      }
    }
  });
});

describe('global services follow the nodes', () => {
  let c: SimCluster;

  beforeAll(async () => {
    c = await startSimCluster({ HEARTBEAT_PERIOD_MS: '250' });
    for (let i = 0; i < 2; i++) await c.addAgent();
  });
  afterAll(() => c?.close());

  it('runs one task per node, on join, drain, and leave', async () => {
    const id = await c.api.createService(serviceSpec('agent', { global: true }));
    let live = await tasksWhere(c.api, id, (ts) => ts.length === 2 && ts.every((t) => t.Status.State === 'running'));
    expect(live.every((t) => t.Slot === 0)).toBe(true);
    expect([...perNode(live).values()]).toEqual([1, 1]);

    // A node joins: it gets its own task.
    const third = await c.addAgent();
    live = await tasksWhere(c.api, id, (ts) => ts.length === 3 && ts.every((t) => t.Status.State === 'running'));
    expect(live.find((t) => t.NodeID === third.nodeId)).toBeDefined();

    // Drained: its task stops and is not replaced anywhere.
    const [first, second] = c.agents as [SimAgent, SimAgent];
    await c.api.updateNode(first.nodeId, (spec) => (spec.Availability = 'drain'));
    live = await tasksWhere(c.api, id, (ts) => ts.length === 2);
    expect(live.map((t) => t.NodeID).sort()).toEqual([second.nodeId, third.nodeId].sort());
    await first.waitFor((ts) => ts.filter((t) => t.serviceId === id && t.desiredState === 'running').length === 0);

    // Active again: it gets a new task.
    await c.api.updateNode(first.nodeId, (spec) => (spec.Availability = 'active'));
    live = await tasksWhere(c.api, id, (ts) => ts.length === 3 && ts.every((t) => t.Status.State === 'running'));

    // Leaves: its agent stops and the node goes down, but keeps its task (a global task could run
    // nowhere else, and the node may come back with it still running); removing the node stops it.
    const kept = live.find((t) => t.NodeID === third.nodeId)!;
    await third.stop();
    await eventually(async () => (await c.api.node(third.nodeId)).Status.State === 'down', 10_000, 50);
    live = await c.api.liveTasks(id);
    expect(live.find((t) => t.NodeID === third.nodeId)?.ID).toBe(kept.ID);
    expect(live).toHaveLength(3);
    await c.api.removeNode(third.nodeId);
    live = await tasksWhere(c.api, id, (ts) => ts.length === 2 && ts.every((t) => t.Status.State === 'running'));
    expect(new Set(live.map((t) => t.NodeID))).toEqual(new Set([first.nodeId, second.nodeId]));
  });
});
