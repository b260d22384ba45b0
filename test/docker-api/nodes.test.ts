import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { enc, expectDockerError, expectRefusedWithoutChange, joinNode, json } from './helpers.ts';

let t: TestApp;
let managerId: string;
let worker: { nodeId: string };
beforeAll(async () => {
  t = await createTestApp();
  managerId = (await json(await t.request('GET', '/v1.41/info'))).Swarm.NodeID;
  worker = await joinNode(t, 'worker-a');
});
afterAll(() => t.close());

describe('GET /nodes', () => {
  it('lists the control plane as the leader manager and each joined agent as a worker', async () => {
    const nodes = await json<any[]>(await t.request('GET', '/v1.41/nodes'));
    expect(nodes).toHaveLength(2);
    const manager = nodes.find((n) => n.ID === managerId);
    expect(manager).toMatchObject({
      Spec: { Role: 'manager', Availability: 'drain' },
      Description: { Hostname: 'control-plane' },
      Status: { State: 'ready' },
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '127.0.0.1:2399' },
    });
    const agent = nodes.find((n) => n.ID === worker.nodeId);
    expect(agent).toMatchObject({
      Spec: { Role: 'worker', Availability: 'active', Labels: {} },
      Description: { Hostname: 'worker-a', Platform: { OS: 'linux', Architecture: 'x86_64' }, Resources: { NanoCPUs: 2_000_000_000 } },
      Status: { State: 'ready', Addr: '198.18.0.2' },
    });
    expect(agent.ManagerStatus).toBeUndefined();
    expect(agent.Version.Index).toBeGreaterThan(0);
  });

  it('filters by role, name and id', async () => {
    const ids = async (f: Record<string, string[]>) =>
      (await json<any[]>(await t.request('GET', `/v1.41/nodes?filters=${enc(f)}`))).map((n) => n.ID).sort();
    expect(await ids({ role: ['manager'] })).toEqual([managerId]);
    expect(await ids({ role: ['worker'] })).toEqual([worker.nodeId]);
    expect(await ids({ name: ['worker-a'] })).toEqual([worker.nodeId]);
    expect(await ids({ id: [worker.nodeId.slice(0, 6)] })).toEqual([worker.nodeId]);
    await expectDockerError(await t.request('GET', `/v1.41/nodes?filters=${enc({ bogus: ['x'] })}`), 400, /^Invalid filter 'bogus'$/);
  });
});

describe('GET /nodes/{id}', () => {
  it('finds the manager entry by ID, by hostname and by ID prefix', async () => {
    for (const ref of [managerId, 'control-plane', managerId.slice(0, 5)]) {
      const node = await json(await t.request('GET', `/v1.41/nodes/${ref}`));
      expect(node.ID).toBe(managerId);
      expect(node.ManagerStatus.Addr).toBe('127.0.0.1:2399');
    }
  });

  it('finds an agent node by ID, hostname and unique prefix', async () => {
    for (const ref of [worker.nodeId, 'worker-a', worker.nodeId.slice(0, 4)]) {
      expect((await json(await t.request('GET', `/v1.41/nodes/${ref}`))).ID).toBe(worker.nodeId);
    }
  });

  it('answers 404 "node X not found" for an unknown node', async () => {
    await expectDockerError(await t.request('GET', '/v1.41/nodes/nosuch'), 404, /^node nosuch not found$/);
    await expectDockerError(await t.request('GET', '/v1.41/nodes/zzzzzzzzzzzzzzzzzzzzzzzzz'), 404, /not found/);
  });
});

describe('POST /nodes/{id}/update', () => {
  it('drains and re-activates a node with read-modify-write, bumping its version', async () => {
    const node = await json(await t.request('GET', `/v1.41/nodes/${worker.nodeId}`));
    const res = await t.request('POST', `/v1.41/nodes/${worker.nodeId}/update?version=${node.Version.Index}`, { ...node.Spec, Availability: 'drain', Labels: { zone: 'a' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const drained = await json(await t.request('GET', `/v1.41/nodes/worker-a`));
    expect(drained.Spec).toMatchObject({ Availability: 'drain', Labels: { zone: 'a' }, Role: 'worker' });
    expect(drained.Version.Index).toBeGreaterThan(node.Version.Index);

    const back = await t.request('POST', `/v1.41/nodes/worker-a/update?version=${drained.Version.Index}`, { ...drained.Spec, Availability: 'active' });
    expect(back.status).toBe(200);
    expect((await json(await t.request('GET', `/v1.41/nodes/${worker.nodeId}`))).Spec.Availability).toBe('active');
  });

  it('refuses a stale version with a clear error and changes nothing', async () => {
    const node = await json(await t.request('GET', `/v1.41/nodes/${worker.nodeId}`));
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/nodes/${worker.nodeId}/update?version=${node.Version.Index - 1}`, { ...node.Spec, Availability: 'drain' }),
      409,
      /^update out of sequence: node worker-a is at version \d+, the update was based on \d+; read it again and retry$/,
    );
  });

  it('refuses a missing version, a bad availability, a role change and the manager entry', async () => {
    const node = await json(await t.request('GET', `/v1.41/nodes/${worker.nodeId}`));
    const v = node.Version.Index;
    await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/nodes/${worker.nodeId}/update`, node.Spec), 400, /invalid node version ''/);
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/nodes/${worker.nodeId}/update?version=${v}`, { ...node.Spec, Availability: 'sleeping' }),
      400,
      /invalid Availability "sleeping": expected active, pause or drain/,
    );
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/nodes/${worker.nodeId}/update?version=${v}`, { ...node.Spec, Role: 'manager' }),
      400,
      /changing a node's role is not supported/,
    );
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/nodes/${worker.nodeId}/update?version=${v}`, { ...node.Spec, Labels: 'zone=a' }),
      400,
      /Labels must map strings to strings/,
    );
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/nodes/${managerId}/update?version=1`, { Role: 'manager', Availability: 'active' }),
      400,
      /manager entry cannot be updated/,
    );
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/nodes/nosuch/update?version=${v}`, node.Spec),
      404,
      /^node nosuch not found$/,
    );
  });
});
