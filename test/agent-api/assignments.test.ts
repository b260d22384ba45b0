import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';

/** A node joined in-process, reading its assignments. */
async function joinNode(t: TestApp, hostname: string, resources: { nanoCpus: number; memoryBytes: number }) {
  const node = await joinInProcess(t, { hostname, ...resources });
  return {
    ...node,
    async assignments(index = 0) {
      const r = await node.agentRequest('GET', `/assignments?index=${index}`);
      expect(r.status).toBe(200);
      return r.json();
    },
  };
}

describe('agent assignments', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('wakes every node when ingress ports change, and its index never goes back', async () => {
    const node = await joinNode(t, 'ingress-watcher', { nanoCpus: 2e9, memoryBytes: 2 ** 30 });
    const before = (await node.assignments()).index;
    const ports = { EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 18080, PublishMode: 'ingress' }] } };
    expect((await t.request('POST', '/services/create', serviceSpec('published', 0, ports))).status).toBe(201);
    const afterCreate = await node.assignments();
    expect(afterCreate.index).toBeGreaterThan(before);
    expect(afterCreate.ingress.map((i: { ports: Array<{ PublishedPort: number }> }) => i.ports[0]!.PublishedPort)).toEqual([18080]);

    expect((await t.request('DELETE', '/services/published')).status).toBe(200);
    const afterDelete = await node.assignments();
    expect(afterDelete.index).toBeGreaterThan(afterCreate.index);
    expect(afterDelete.ingress).toEqual([]);
  });

  it('keeps a global task from its node until the scheduler has found it fits', async () => {
    const node = await joinNode(t, 'too-small', { nanoCpus: 1e9, memoryBytes: 2 ** 30 });
    const spec = serviceSpec('hungry', 0, { Mode: { Global: {} } });
    spec.TaskTemplate.Resources = { Limits: {}, Reservations: { MemoryBytes: 64 * 2 ** 30 } } as never;
    expect((await t.request('POST', '/services/create', spec)).status).toBe(201);
    const tasks = await (await t.request('GET', `/tasks?filters=${encodeURIComponent('{"service":{"hungry":true}}')}`)).json();
    const mine = tasks.find((task: { NodeID?: string }) => task.NodeID === node.nodeId);
    expect(mine.Status.State).toBe('pending');
    expect((await node.assignments()).tasks.map((a: { taskId: string }) => a.taskId)).not.toContain(mine.ID);
    const refused = await node.report(mine.ID, 'accepted');
    expect(refused.ok).toBe(false);
    expect(refused.error).toContain('not assigned to this node yet');
  });
});
