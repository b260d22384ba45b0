import { eq, sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admitNode } from '../../control-plane/agent-api/join.ts';
import { clusters, joinTokens, tasks } from '../../control-plane/db/schema/index.ts';
import { orchestrateCluster } from '../../control-plane/orchestrator/orchestrate.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { nodeInfo } from '../harness/sim-agent.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

// One orchestration pass at a time against a real database, as the leader runs it.
describe('orchestrateCluster', () => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => t.close());

  async function join(info = {}) {
    const token = await t.deps.database.db.query.joinTokens.findFirst({ where: eq(joinTokens.clusterId, t.clusterId) });
    return t.deps.database.write((tx) => admitNode(tx, { clusterId: t.clusterId, jti: token!.jti, info: nodeInfo(info), now: Date.now() }));
  }
  const pass = (now = Date.now()) =>
    t.deps.database.write((tx) => orchestrateCluster(tx, t.clusterId, now, { schedule: true, silentBefore: () => now - 60_000, historyPerSlot: 5 }));
  const create = async (name: string, opts: Parameters<typeof serviceSpec>[1]) => {
    const res = await t.request('POST', '/services/create', serviceSpec(name, opts));
    expect(res.status).toBe(201);
    return ((await res.json()) as { ID: string }).ID;
  };
  const tasksOf = (serviceId: string) => t.deps.database.db.select().from(tasks).where(eq(tasks.serviceId, serviceId));
  /** What an agent's report would do. */
  const observe = (taskId: string, state: string) => t.deps.database.db.run(sql`update tasks set state = ${state} where id = ${taskId}`);
  const clusterIndex = async () => (await t.deps.database.db.select().from(clusters).where(eq(clusters.id, t.clusterId)))[0]!.changeIndex;

  it('a task being stopped keeps its reservation and host ports until its agent reports it ended', async () => {
    const node = await join({ nanoCpus: 2e9 });
    const a = await create('a', { replicas: 1, reservations: { NanoCPUs: 2e9 }, hostPorts: [8080] });
    expect((await pass()).placed).toBe(1);
    const [old] = await tasksOf(a);
    expect(old!.nodeId).toBe(node.id);
    await observe(old!.id, 'running');

    // Scaled to zero: the old task is told to stop but is still running on the node.
    const s = await (await t.request('GET', `/services/${a}`)).json();
    s.Spec.Mode.Replicated.Replicas = 0;
    expect((await t.request('POST', `/services/${a}/update?version=${s.Version.Index}`, s.Spec)).status).toBe(200);
    await pass();
    expect((await tasksOf(a))[0]!.desiredState).toBe('shutdown');

    const b = await create('b', { replicas: 1, reservations: { NanoCPUs: 1e9 } });
    const c = await create('c', { replicas: 1, hostPorts: [8080] });
    await pass();
    expect((await tasksOf(b))[0]).toMatchObject({ state: 'pending', err: 'no suitable node (insufficient resources on 1 node)' });
    expect((await tasksOf(c))[0]).toMatchObject({ state: 'pending', err: 'no suitable node (host-mode port already in use on 1 node)' });

    // The agent reports the old task stopped: both fit now.
    await observe(old!.id, 'shutdown');
    expect((await pass()).placed).toBe(2);
    expect((await tasksOf(b))[0]).toMatchObject({ state: 'assigned', nodeId: node.id, err: null });
    expect((await tasksOf(c))[0]).toMatchObject({ state: 'assigned', nodeId: node.id, err: null });
  });

  it('the tasks of a removed service hold their node until they have stopped', async () => {
    await join({ memoryBytes: 1e9 });
    const a = await create('a', { replicas: 1, reservations: { MemoryBytes: 1e9 } });
    await pass();
    const [old] = await tasksOf(a);
    await observe(old!.id, 'running');
    expect((await t.request('DELETE', `/services/${a}`)).status).toBe(200);
    const b = await create('b', { replicas: 1, reservations: { MemoryBytes: 1e9 } });
    await pass();
    expect((await tasksOf(b))[0]!.state).toBe('pending');
    await observe(old!.id, 'shutdown');
    await pass();
    expect((await tasksOf(b))[0]!.state).toBe('assigned');
  });

  it('a task stopped before it was ever assigned is shut down at once (no agent will report it)', async () => {
    await join();
    const a = await create('nowhere', { replicas: 2, constraints: ['node.labels.none==here'] });
    await pass();
    expect((await tasksOf(a)).map((x) => x.state)).toEqual(['pending', 'pending']);
    const s = await (await t.request('GET', `/services/${a}`)).json();
    s.Spec.Mode.Replicated.Replicas = 1;
    await t.request('POST', `/services/${a}/update?version=${s.Version.Index}`, s.Spec);
    const rows = await tasksOf(a);
    const slot2 = rows.find((x) => x.slot === 2)!;
    expect(slot2).toMatchObject({ desiredState: 'shutdown', state: 'shutdown', nodeId: null });
    expect(rows.find((x) => x.slot === 1)).toMatchObject({ desiredState: 'running', state: 'pending' });
  });

  it('writes the explanation once: a pass that changes nothing commits nothing', async () => {
    await join();
    await create('nowhere', { replicas: 3, constraints: ['node.labels.none==here'] });
    const first = await pass();
    expect(first.index).toBeDefined();
    const index = await clusterIndex();
    const again = await pass();
    expect(again.index).toBeUndefined();
    expect(again.observedIndex).toBe(index);
    expect(await clusterIndex()).toBe(index);
  });

  it('keeps history per slot (the swarm\'s TaskHistoryRetentionLimit), and enough of it to count restart attempts', async () => {
    const node = await join();
    // `docker swarm update --task-history-limit 2`
    const swarm = await (await t.request('GET', '/swarm')).json();
    swarm.Spec.Orchestration.TaskHistoryRetentionLimit = 2;
    expect((await t.request('POST', `/swarm/update?version=${swarm.Version.Index}`, swarm.Spec)).status).toBe(200);
    const a = await create('flaky', { replicas: 1, restart: { Condition: 'any', Delay: 0, MaxAttempts: 4 } });
    const b = await create('plain', { replicas: 1, restart: { Condition: 'any', Delay: 0 } });
    let now = Date.now();
    for (let round = 0; round < 6; round++) {
      await pass(now++);
      for (const id of [a, b]) {
        const live = (await tasksOf(id)).filter((x) => x.desiredState === 'running' && x.state !== 'failed');
        for (const x of live) {
          expect(x.nodeId).toBe(node.id);
          await observe(x.id, 'failed');
        }
      }
      await pass(now++);
    }
    // 'plain' keeps its last 2 finished tasks (the history limit here) plus its live one.
    const plain = await tasksOf(b);
    expect(plain.filter((x) => x.desiredState === 'shutdown')).toHaveLength(2);
    // 'flaky' gave up after the first task and 4 restarts, all still on record.
    const flaky = await tasksOf(a);
    expect(flaky).toHaveLength(5);
    expect(flaky.every((x) => x.state === 'failed' && x.desiredState === 'shutdown')).toBe(true);
  });

  it('a failed update with FailureAction rollback puts the previous spec back, in one pass', async () => {
    await join();
    const a = await create('rolls-back', { replicas: 2 });
    await pass();
    for (const x of await tasksOf(a)) await observe(x.id, 'running');

    const s = await (await t.request('GET', `/services/${a}`)).json();
    const good = s.Spec;
    const broken = { ...good, UpdateConfig: { FailureAction: 'rollback' }, TaskTemplate: { ...good.TaskTemplate, ContainerSpec: { ...good.TaskTemplate.ContainerSpec, Args: ['false'] } } };
    expect((await t.request('POST', `/services/${a}/update?version=${s.Version.Index}`, broken)).status).toBe(200);
    // Slot 1's old task stops; its replacement is made, placed, and fails.
    for (const x of await tasksOf(a)) if (x.desiredState === 'shutdown') await observe(x.id, 'shutdown');
    await pass();
    const fresh = (await tasksOf(a)).find((x) => x.desiredState === 'running' && x.state === 'assigned');
    expect(fresh).toBeDefined();
    await observe(fresh!.id, 'failed');
    await pass();

    const after = await (await t.request('GET', `/services/${a}`)).json();
    expect(after.UpdateStatus.State).toBe('rollback_started');
    expect(after.UpdateStatus.Message).toContain(`task ${fresh!.id}`);
    expect(after.Spec.TaskTemplate.ContainerSpec.Args).toEqual(good.TaskTemplate.ContainerSpec.Args);
    expect(after.PreviousSpec.TaskTemplate.ContainerSpec.Args).toEqual(['false']);
  });

  it('a start-first update that moves a host port places the new task beside the old one', async () => {
    const node = await join();
    const a = await create('moves-port', { replicas: 1, hostPorts: [8080] });
    await pass();
    const [old] = await tasksOf(a);
    expect(old!.nodeId).toBe(node.id);
    await observe(old!.id, 'running');

    const s = await (await t.request('GET', `/services/${a}`)).json();
    const moved = { ...s.Spec, UpdateConfig: { Order: 'start-first' }, EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8081, PublishMode: 'host' }] } };
    expect((await t.request('POST', `/services/${a}/update?version=${s.Version.Index}`, moved)).status).toBe(200);
    await pass();
    const fresh = (await tasksOf(a)).find((x) => x.id !== old!.id);
    // The old task holds 8080, not the 8081 its service now asks for: the new one fits on the node.
    expect(fresh?.state, fresh?.err ?? '').toBe('assigned');
    expect(fresh!.nodeId).toBe(node.id);
  });
});
