import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimAgent } from '../harness/sim-agent.ts';
import { perNode, type SimCluster, startSimCluster, tasksWhere } from '../harness/sim-cluster.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

const GiB = 1024 ** 3;
const CPU = 1e9;

// Placement rules against three simulated hosts of different shapes on a real control plane.
describe('placement constraints, reservations, max replicas and host ports', () => {
  let c: SimCluster;
  let alpha: SimAgent; // east, ssd, 2 CPU, 2 GiB
  let beta: SimAgent; // west, 2 CPU, 2 GiB
  let gamma: SimAgent; // west, ssd, 1 CPU, 1 GiB
  const pending = (ts: any[]) => ts.filter((t) => t.Status.State === 'pending');
  const placedOn = (ts: any[]) => [...perNode(ts.filter((t) => t.Status.State !== 'pending')).keys()].sort();

  beforeAll(async () => {
    c = await startSimCluster();
    alpha = await c.addAgent({ hostname: 'c-alpha', nanoCpus: 2 * CPU, memoryBytes: 2 * GiB, labels: { zone: 'east', disk: 'ssd' } });
    beta = await c.addAgent({ hostname: 'c-beta', nanoCpus: 2 * CPU, memoryBytes: 2 * GiB, labels: { zone: 'west' } });
    gamma = await c.addAgent({ hostname: 'c-gamma', nanoCpus: 1 * CPU, memoryBytes: 1 * GiB, labels: { zone: 'west', disk: 'ssd' } });
  });
  afterAll(() => c?.close());

  /** Creates a service, waits until `placed` of its tasks run and `unplaced` stay pending, removes it after. */
  async function settle(name: string, spec: Parameters<typeof serviceSpec>[1], placed: number, unplaced: number) {
    const id = await c.api.createService(serviceSpec(name, spec));
    const live = await tasksWhere(
      c.api,
      id,
      (ts) =>
        ts.length === placed + unplaced &&
        ts.filter((t) => t.Status.State === 'running').length === placed &&
        pending(ts).every((t) => t.Status.Err),
    );
    return { id, live };
  }

  it('node.hostname== places only on that host', async () => {
    const { id, live } = await settle('by-host', { replicas: 4, constraints: ['node.hostname==c-beta'] }, 4, 0);
    expect(placedOn(live)).toEqual([beta.nodeId]);
    await c.api.removeService(id);
  });

  it('node.role==worker places everywhere; node.role==manager nowhere, explained', async () => {
    const workers = await settle('workers', { replicas: 3, constraints: ['node.role==worker'] }, 3, 0);
    expect(placedOn(workers.live)).toEqual([alpha.nodeId, beta.nodeId, gamma.nodeId].sort());
    const managers = await settle('managers', { replicas: 1, constraints: ['node.role==manager'] }, 0, 1);
    expect(managers.live[0].Status.Err).toBe('no suitable node (scheduling constraints not satisfied on 3 nodes)');
    expect(managers.live[0].NodeID).toBeUndefined();
    await c.api.removeService(workers.id);
    await c.api.removeService(managers.id);
  });

  it('node.labels ==, != (a missing label passes !=), and several constraints together', async () => {
    const west = await settle('west', { replicas: 4, constraints: ['node.labels.zone==west'] }, 4, 0);
    expect(placedOn(west.live)).toEqual([beta.nodeId, gamma.nodeId].sort());
    const noSsd = await settle('no-ssd', { replicas: 2, constraints: ['node.labels.disk!=ssd'] }, 2, 0);
    expect(placedOn(noSsd.live)).toEqual([beta.nodeId]);
    const both = await settle('west-ssd', { replicas: 2, constraints: ['node.labels.zone==west', 'node.labels.disk==ssd'] }, 2, 0);
    expect(placedOn(both.live)).toEqual([gamma.nodeId]);
    for (const s of [west, noSsd, both]) await c.api.removeService(s.id);
  });

  it('a label added with docker node update lets a pending task be placed', async () => {
    const { id, live } = await settle('gpu', { replicas: 1, constraints: ['node.labels.gpu==yes'] }, 0, 1);
    expect(live[0].Status.Err).toBe('no suitable node (scheduling constraints not satisfied on 3 nodes)');
    await c.api.updateNode(alpha.nodeId, (spec) => (spec.Labels = { ...spec.Labels, gpu: 'yes' }));
    const now = await tasksWhere(c.api, id, (ts) => ts.length === 1 && ts[0].Status.State === 'running');
    expect(now[0].NodeID).toBe(alpha.nodeId);
    expect(now[0].Status.Err).toBeUndefined();
    await c.api.removeService(id);
  });

  it('CPU reservations never exceed node capacity; the rest wait with an explanation', async () => {
    // Capacity: 2 + 2 + 1 whole CPUs.
    const { id, live } = await settle('cpu', { replicas: 6, reservations: { NanoCPUs: 1 * CPU } }, 5, 1);
    expect([...perNode(live.filter((t) => t.Status.State === 'running')).entries()].sort()).toEqual(
      [[alpha.nodeId, 2], [beta.nodeId, 2], [gamma.nodeId, 1]].sort(),
    );
    expect(pending(live)[0].Status.Err).toBe('no suitable node (insufficient resources on 3 nodes)');
    // Scaling down frees a CPU: nothing pending remains and nothing is over capacity.
    await c.api.scale('cpu', 4);
    await tasksWhere(c.api, id, (ts) => ts.length === 4 && ts.every((t) => t.Status.State === 'running'));
    await c.api.removeService(id);
  });

  it('memory reservations and constraints together explain each failing filter', async () => {
    // 1.5 GiB fits once on alpha and beta, never on gamma; zone==west leaves beta only.
    const { id, live } = await settle('mem', { replicas: 2, reservations: { MemoryBytes: 1.5 * GiB }, constraints: ['node.labels.zone==west'] }, 1, 1);
    expect(placedOn(live)).toEqual([beta.nodeId]);
    expect(pending(live)[0].Status.Err).toBe(
      'no suitable node (scheduling constraints not satisfied on 1 node; insufficient resources on 2 nodes)',
    );
    // Freeing beta (the pending task's only candidate) lets it be placed.
    const other = await c.api.liveTasks(id);
    expect(other).toHaveLength(2);
    await c.api.scale('mem', 1);
    await tasksWhere(c.api, id, (ts) => ts.length === 1 && ts[0].Status.State === 'running');
    await c.api.removeService(id);
  });

  it('max replicas per node', async () => {
    const { id, live } = await settle('one-each', { replicas: 4, maxReplicas: 1 }, 3, 1);
    expect([...perNode(live.filter((t) => t.Status.State === 'running')).values()]).toEqual([1, 1, 1]);
    expect(pending(live)[0].Status.Err).toBe('no suitable node (max replicas per node limit exceeded on 3 nodes)');
    // Another node ready: the pending replica goes there.
    const delta = await c.addAgent({ hostname: 'c-delta' });
    const now = await tasksWhere(c.api, id, (ts) => ts.length === 4 && ts.every((t) => t.Status.State === 'running'));
    expect(perNode(now).get(delta.nodeId)).toBe(1);
    await c.api.removeService(id);
    await delta.stop();
    await c.api.removeNode(delta.nodeId, true);
  });

  it('host-mode ports: one task per port per node, across services too', async () => {
    const a = await settle('hp-a', { replicas: 4, hostPorts: [8080] }, 3, 1);
    expect([...perNode(a.live.filter((t) => t.Status.State === 'running')).values()]).toEqual([1, 1, 1]);
    expect(pending(a.live)[0].Status.Err).toBe('no suitable node (host-mode port already in use on 3 nodes)');
    // Another service on the same host port finds every node taken; on another port it is placed.
    const b = await settle('hp-b', { replicas: 1, hostPorts: [8080] }, 0, 1);
    expect(b.live[0].Status.Err).toBe('no suitable node (host-mode port already in use on 3 nodes)');
    const d = await settle('hp-d', { replicas: 3, hostPorts: [9090] }, 3, 0);
    expect(perNode(d.live).size).toBe(3);
    // Scaling the first down to 2 frees one node: exactly one pending task (of either) gets it.
    await c.api.scale('hp-a', 2);
    const aLive = await tasksWhere(c.api, a.id, (ts) => ts.length === 2);
    const bLive = await tasksWhere(c.api, b.id, (ts) => ts[0]?.Status.State === 'running');
    const holders = [...aLive, ...bLive].filter((t) => t.Status.State === 'running').map((t) => t.NodeID);
    expect(new Set(holders).size).toBe(3);
    for (const s of [a, b, d]) await c.api.removeService(s.id);
  });
});
