import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, eventually } from '../harness/docker-cli.ts';
import type { SimAgent } from '../harness/sim-agent.ts';
import { perNode, type SimCluster, startSimCluster, tasksWhere } from '../harness/sim-cluster.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

const allRunning = (n: number) => (ts: any[]) => ts.length === n && ts.every((t) => t.Status.State === 'running');

// Node liveness and availability with simulated agents; heartbeats every 250 ms, down after 3 misses.
describe('node lifecycle', () => {
  let c: SimCluster;

  beforeAll(async () => {
    c = await startSimCluster({ HEARTBEAT_PERIOD_MS: '250', HEARTBEAT_MISSES: '3' });
  });
  afterAll(() => c?.close());

  it('an agent that stops heartbeating is marked down and its tasks are replaced elsewhere', async () => {
    const [a, b, dead] = [await c.addAgent(), await c.addAgent(), await c.addAgent()];
    const id = await c.api.createService(serviceSpec('hb', { replicas: 6 }));
    const before = await tasksWhere(c.api, id, allRunning(6));
    const lost = before.filter((t) => t.NodeID === dead.nodeId);
    expect(lost).toHaveLength(2);

    const silentAt = Date.now();
    dead.stopHeartbeat();
    const node = await eventually(async () => {
      const n = await c.api.node(dead.nodeId);
      return n.Status.State === 'down' ? n : undefined;
    }, 5000, 50);
    // Not before the grace period: 3 × 250 ms after its last heartbeat, which was at most one
    // period before it fell silent.
    expect(Date.now() - silentAt).toBeGreaterThanOrEqual(450);
    expect(node.Status.Message).toBe('heartbeat failure');

    const after = await tasksWhere(c.api, id, allRunning(6));
    expect(after.map((t) => t.NodeID)).not.toContain(dead.nodeId);
    expect([...perNode(after).values()]).toEqual([3, 3]);
    // Replacements are new tasks in the same slots; the lost ones are kept as history.
    expect(after.map((t) => t.Slot).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const history = await c.api.tasks(id);
    for (const t of lost) expect(history.find((h) => h.ID === t.ID)?.DesiredState).toBe('shutdown');

    // The host comes back: the node is ready again and its agent is told to stop the old tasks.
    dead.resumeHeartbeat();
    await eventually(async () => (await c.api.node(dead.nodeId)).Status.State === 'ready', 5000, 50);
    await dead.waitFor((ts) => ts.filter((t) => t.serviceId === id && t.desiredState === 'running').length === 0);
    expect((await c.api.liveTasks(id)).map((t) => t.NodeID)).not.toContain(dead.nodeId);
    await c.api.removeService(id);
    for (const agent of [a, b, dead]) {
      await agent.stop();
    }
  });

  it('every request is a heartbeat: a node that only long-polls stays ready, and a poll brings a down node back', async () => {
    const agent = await c.addAgent();
    agent.stopHeartbeat(); // no status requests from here on: only the polls below
    const state = async () => (await c.api.node(agent.nodeId)).Status.State;
    const pollUntil = async (ms: number) => {
      let index = (await agent.assignments(0)).body.index;
      for (const end = Date.now() + ms; Date.now() < end; ) {
        const reply = await agent.assignments(index, '100ms');
        expect(reply.status).toBe(200);
        index = reply.body.index;
      }
    };
    // Over three times the grace (3 × 250 ms), with nothing but long-polls of half a period.
    await pollUntil(2500);
    expect(await state()).toBe('ready');
    // Silent: down within the grace and a pass.
    await eventually(async () => (await state()) === 'down', 5000, 50);
    // One poll, and it is back.
    expect((await agent.assignments(0)).status).toBe(200);
    await eventually(async () => (await state()) === 'ready', 5000, 50);
    await agent.stop();
  });

  it('docker node update --availability drain moves tasks off; pause stops new placement', async () => {
    const labels = { set: 'drain' }; // these three nodes, and only them, are in play
    const [a, b, d] = [await c.addAgent({ labels }), await c.addAgent({ labels }), await c.addAgent({ labels })];
    const id = await c.api.createService(serviceSpec('movable', { replicas: 3, constraints: [`node.labels.set==drain`] }));
    const before = await tasksWhere(c.api, id, allRunning(3));
    expect([...perNode(before).values()]).toEqual([1, 1, 1]);

    const drained = await docker(['node', 'update', '--availability', 'drain', d.nodeId], c.cp.dockerEnv);
    expect(drained.code, drained.stderr).toBe(0);
    const moved = await tasksWhere(c.api, id, (ts) => allRunning(3)(ts) && !ts.some((t) => t.NodeID === d.nodeId));
    expect(new Set(moved.map((t) => t.NodeID))).toEqual(new Set([a.nodeId, b.nodeId]));
    await d.waitFor((ts) => ts.every((t) => t.desiredState !== 'running' && t.state === 'shutdown'));
    const inspect = await docker(['node', 'inspect', '--format', '{{.Spec.Availability}}', d.nodeId], c.cp.dockerEnv);
    expect(inspect.stdout.trim()).toBe('drain');

    // Paused: keeps its task, takes no new ones.
    const paused = await docker(['node', 'update', '--availability', 'pause', a.nodeId], c.cp.dockerEnv);
    expect(paused.code, paused.stderr).toBe(0);
    await c.api.scale('movable', 6);
    const scaled = await tasksWhere(c.api, id, allRunning(6));
    const counts = perNode(scaled);
    expect(counts.get(d.nodeId)).toBeUndefined();
    expect(counts.get(b.nodeId)).toBe(6 - (counts.get(a.nodeId) ?? 0));
    expect(counts.get(a.nodeId)).toBeGreaterThanOrEqual(1); // its tasks stayed
    expect(scaled.filter((t) => t.NodeID === a.nodeId).every((t) => before.some((x) => x.ID === t.ID) || moved.some((x) => x.ID === t.ID))).toBe(true);

    // Active again: placement uses it again.
    await docker(['node', 'update', '--availability', 'active', d.nodeId], c.cp.dockerEnv);
    await c.api.scale('movable', 7);
    const last = await tasksWhere(c.api, id, allRunning(7));
    expect(perNode(last).get(d.nodeId)).toBe(1);
    await c.api.removeService(id);
    for (const agent of [a, b, d]) await agent.stop();
  });

  it('docker node rm of a down node, and --force for a live one, ends its credential', async () => {
    const labels = { set: 'rm' };
    const [keep, gone, live] = [await c.addAgent({ labels }), await c.addAgent({ labels }), await c.addAgent({ labels })];
    const id = await c.api.createService(serviceSpec('rm', { replicas: 3, constraints: ['node.labels.set==rm'] }));
    await tasksWhere(c.api, id, allRunning(3));
    const goneCredential = gone.credential;
    const liveCredential = live.credential;

    // A live node needs --force.
    const refused = await docker(['node', 'rm', live.nodeId], c.cp.dockerEnv);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('is not down');

    await gone.stop();
    await eventually(async () => (await c.api.node(gone.nodeId)).Status.State === 'down', 5000, 50);
    const removed = await docker(['node', 'rm', gone.nodeId], c.cp.dockerEnv);
    expect(removed.code, removed.stderr).toBe(0);
    const forced = await docker(['node', 'rm', '--force', live.nodeId], c.cp.dockerEnv);
    expect(forced.code, forced.stderr).toBe(0);
    const ls = await docker(['node', 'ls', '--format', '{{.ID}}'], c.cp.dockerEnv);
    expect(ls.stdout).not.toContain(gone.nodeId);
    expect(ls.stdout).not.toContain(live.nodeId);

    // Their credentials stop working on every agent route.
    for (const [agent, credential] of [[gone, goneCredential], [live, liveCredential]] as Array<[SimAgent, string]>) {
      agent.credential = credential;
      expect((await agent.assignments()).status).toBe(401);
      expect((await agent.report([])).status).toBe(401);
      expect((await agent.call('POST', '/credential')).status).toBe(401);
    }
    // The survivor runs all three (max one slot per node is not asked, so they pile up on it).
    const after = await tasksWhere(c.api, id, allRunning(3));
    expect(after.every((t) => t.NodeID === keep.nodeId)).toBe(true);
    await live.stop();
    await c.api.removeService(id);
  });
});
