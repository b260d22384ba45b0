import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { nodes, tasks } from '../../control-plane/db/schema/index.ts';
import { eventually } from '../harness/docker-cli.ts';
import { joinInProcess, serviceSpec, useLeaderApp } from '../harness/app.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('status batching', () => {
  // Bare heartbeats are written within a quarter period: 500 ms here.
  const app = useLeaderApp({ env: { HEARTBEAT_PERIOD_MS: '2000' } });

  it('answers a bare heartbeat without waiting on the write queue, and writes it once the queue frees', async () => {
    const t = app();
    const node = await joinInProcess(t, { hostname: 'beating' });
    const heardAt = async () => (await t.deps.database.db.select({ at: nodes.lastHeartbeatAt }).from(nodes).where(eq(nodes.id, node.nodeId)))[0]!.at ?? 0;
    const before = await heardAt();
    await sleep(5);
    // Another write holds the queue for 1.5 s, as a large pass on a loaded control plane would.
    const held = t.deps.database.write(() => sleep(1500));
    const started = performance.now();
    const reply = await node.agentRequest('POST', '/status', { reports: [] });
    const answeredMs = performance.now() - started;
    expect(reply.status).toBe(200);
    expect(await reply.json()).toEqual({ results: [] });
    expect(answeredMs).toBeLessThan(750);
    // Until its write commits, the leader must not take the node for silent.
    expect(t.deps.statusBatcher.heardUnwritten(node.nodeId)).toBe(true);
    await held;
    const written = await eventually(async () => ((await heardAt()) > before ? heardAt() : undefined), 2000, 20);
    expect(written).toBeGreaterThan(before);
    expect(t.deps.statusBatcher.heardUnwritten(node.nodeId)).toBe(false);
  });

  it('judges reports sent together in order and writes the task as the last accepted one left it', async () => {
    const t = app();
    const node = await joinInProcess(t, { hostname: 'reporting' });
    // On this node, not the first test's: the scheduler may pick either of two empty nodes.
    const spec = serviceSpec('batched', 1);
    spec.TaskTemplate.Placement = { Constraints: ['node.hostname==reporting'] };
    expect((await t.request('POST', '/services/create', spec)).status).toBe(201);
    const task = await eventually(async () => {
      const [row] = await t.deps.database.db.select().from(tasks).where(eq(tasks.nodeId, node.nodeId));
      return row?.state === 'assigned' ? row : undefined;
    }, 5000, 20);
    const at = Date.now();
    const reply = await node.agentRequest('POST', '/status', {
      reports: [
        { taskId: task.id, state: 'accepted', timestamp: at },
        { taskId: task.id, state: 'preparing', timestamp: at },
        { taskId: task.id, state: 'starting', timestamp: at },
        { taskId: task.id, state: 'preparing', timestamp: at },
        { taskId: task.id, state: 'running', message: 'up', containerStatus: { ContainerID: 'c1' }, portStatus: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] }, timestamp: at + 1 },
      ],
    });
    const { results } = (await reply.json()) as { results: Array<{ ok: boolean; error?: string }> };
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false, true]);
    expect(results[3]!.error).toContain('starting → preparing refused');
    const [row] = await t.deps.database.db.select().from(tasks).where(eq(tasks.id, task.id));
    expect(row).toMatchObject({ state: 'running', message: 'up', err: null, containerStatus: { ContainerID: 'c1' }, statusAt: at + 1 });
    expect(row!.portStatus).toEqual({ Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] });
    expect(row!.version).toBeGreaterThan(task.version);
  });
});
