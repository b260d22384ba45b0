import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';

/** In-process agent calls: join with the swarm's worker token, then read assignments. */
async function joinNode(t: TestApp, hostname: string, resources: { nanoCpus: number; memoryBytes: number }) {
  const swarm = await (await t.request('GET', '/swarm')).json();
  const res = await t.app.request('http://cp.test/agent/v1/join', {
    method: 'POST',
    body: JSON.stringify({
      token: swarm.JoinTokens.Worker,
      node: { hostname, ...resources, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '10.1.0.1' },
    }),
  });
  expect(res.status).toBe(200);
  const { credential, nodeId } = await res.json();
  const auth = { Authorization: `Bearer ${credential}` };
  return {
    nodeId,
    async assignments(index = 0) {
      const r = await t.app.request(`http://cp.test/agent/v1/assignments?index=${index}`, { headers: auth });
      expect(r.status).toBe(200);
      return r.json();
    },
    async report(taskId: string, state: string) {
      const r = await t.app.request('http://cp.test/agent/v1/status', {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ reports: [{ taskId, state, timestamp: Date.now() }] }),
      });
      return (await r.json()).results[0];
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
