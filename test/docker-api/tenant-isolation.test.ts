import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orchestrateCluster } from '../../control-plane/orchestrator/orchestrate.ts';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, enc, expectAgentError, expectDockerError, expectRefusedWithoutChange, join, json, workerToken } from './helpers.ts';

/**
 * Two clusters on one control plane: A from the harness, B created through the admin API. Each
 * key sees its own cluster only; the other's IDs and names are 404 and never listed.
 */
let t: TestApp;
let keyB: string;
type Ids = Record<'cluster' | 'service' | 'only' | 'node' | 'manager' | 'task' | 'token', string>;
const A = {} as Ids;
const B = {} as Ids;

const asB = (method: string, path: string, body?: unknown) => t.request(method, path, body, { Authorization: `Bearer ${keyB}` });

beforeAll(async () => {
  t = await createTestApp();
  const res = await t.app.request('http://cp.test/admin/v1/clusters', {
    method: 'POST',
    headers: { Authorization: 'Bearer admin-secret-for-tests', 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenant: 'other', name: 'prod' }),
  });
  const created = await json(res, 201);
  keyB = created.apiKey;
  B.cluster = created.clusterId;
  A.cluster = t.clusterId;

  // The same service name in both clusters, and a node in each.
  A.service = await createService(t, serviceSpec('web', 2));
  A.only = await createService(t, serviceSpec('only-a', 1));
  B.service = (await json(await asB('POST', '/v1.41/services/create', serviceSpec('web', 1)), 201)).ID;
  A.node = (await json(await join(t, await workerToken(t), 'host-a'))).nodeId;
  const swarmB = await json(await asB('GET', '/v1.41/swarm'));
  B.token = swarmB.JoinTokens.Worker;
  B.node = (await json(await join(t, B.token, 'host-b'))).nodeId;
  A.manager = (await json(await t.request('GET', '/v1.41/info'))).Swarm.NodeID;
  B.manager = (await json(await asB('GET', '/v1.41/info'))).Swarm.NodeID;
  for (const id of [A.cluster, B.cluster]) await t.deps.database.write((tx) => orchestrateCluster(tx, id, Date.now(), { schedule: true }));
  A.task = (await json<any[]>(await t.request('GET', '/v1.41/tasks')))[0].ID;
  B.task = (await json<any[]>(await asB('GET', '/v1.41/tasks')))[0].ID;
});
afterAll(() => t.close());

describe('the admin API', () => {
  it('creates a second cluster with its own key and swarm', () => {
    expect(keyB).toMatch(/^swl_/);
    expect(keyB).not.toBe(t.apiKey);
    expect(B.cluster).not.toBe(A.cluster);
  });

  it('refuses a missing or wrong admin token, and the cluster API key', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Bearer ${t.apiKey}`]) {
      await expectRefusedWithoutChange(
        t,
        () =>
          Promise.resolve(
            t.app.request('http://cp.test/admin/v1/clusters', {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
              body: JSON.stringify({ tenant: 'evil', name: 'x' }),
            }),
          ),
        401,
        /^invalid admin token$/,
      );
    }
  });

  it('refuses a duplicate cluster and bad names', async () => {
    const admin = (body: unknown) => () =>
      Promise.resolve(
        t.app.request('http://cp.test/admin/v1/clusters', {
          method: 'POST',
          headers: { Authorization: 'Bearer admin-secret-for-tests', 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
    await expectRefusedWithoutChange(t, admin({ tenant: 'other', name: 'prod' }), 409, /^cluster 'prod' already exists for tenant 'other'$/);
    await expectRefusedWithoutChange(t, admin({ tenant: 'Other Tenant', name: 'prod' }), 400, /^tenant must be a lowercase name/);
    await expectRefusedWithoutChange(t, admin({ tenant: 'other', name: 7 }), 400, /^name must be a lowercase name/);
  });
});

describe('each key is blind to the other cluster', () => {
  it('lists only its own services, tasks and nodes', async () => {
    const servicesA = await json<any[]>(await t.request('GET', '/v1.41/services'));
    const servicesB = await json<any[]>(await asB('GET', '/v1.41/services'));
    expect(servicesA.map((s) => s.ID).sort()).toEqual([A.service, A.only].sort());
    expect(servicesB.map((s) => s.ID)).toEqual([B.service]);

    const tasksA = await json<any[]>(await t.request('GET', '/v1.41/tasks'));
    const tasksB = await json<any[]>(await asB('GET', '/v1.41/tasks'));
    expect(tasksA.length).toBe(3);
    expect(tasksB.length).toBe(1);
    expect(tasksA.every((x) => [A.service, A.only].includes(x.ServiceID))).toBe(true);
    expect(tasksB.every((x) => x.ServiceID === B.service)).toBe(true);
    // Placement never crosses clusters either.
    expect(tasksA.filter((x) => x.NodeID).map((x) => x.NodeID)).toEqual(tasksA.map(() => A.node));
    expect(tasksB.map((x) => x.NodeID)).toEqual([B.node]);

    const nodesA = await json<any[]>(await t.request('GET', '/v1.41/nodes'));
    const nodesB = await json<any[]>(await asB('GET', '/v1.41/nodes'));
    expect(nodesA.map((n) => n.ID).sort()).toEqual([A.manager, A.node].sort());
    expect(nodesB.map((n) => n.ID).sort()).toEqual([B.manager, B.node].sort());
  });

  it('the other cluster\'s service, node and task IDs and names are 404', async () => {
    await expectDockerError(await asB('GET', `/v1.41/services/${A.service}`), 404, /not found/);
    await expectDockerError(await asB('GET', `/v1.41/services/${A.service.slice(0, 6)}`), 404, /not found/);
    await expectDockerError(await asB('GET', '/v1.41/services/only-a'), 404, /^service only-a not found$/);
    await expectDockerError(await t.request('GET', `/v1.41/services/${B.service}`), 404, /not found/);
    await expectDockerError(await asB('GET', `/v1.41/nodes/${A.node}`), 404, /not found/);
    await expectDockerError(await asB('GET', '/v1.41/nodes/host-a'), 404, /^node host-a not found$/);
    await expectDockerError(await asB('GET', `/v1.41/nodes/${A.manager}`), 404, /not found/);
    await expectDockerError(await t.request('GET', `/v1.41/nodes/${B.node}`), 404, /not found/);
    await expectDockerError(await asB('GET', `/v1.41/tasks/${A.task}`), 404, /not found/);
    await expectDockerError(await t.request('GET', `/v1.41/tasks/${B.task}`), 404, /not found/);
  });

  it('a name used in both clusters resolves to each cluster\'s own service', async () => {
    expect((await json(await t.request('GET', '/v1.41/services/web'))).ID).toBe(A.service);
    expect((await json(await asB('GET', '/v1.41/services/web'))).ID).toBe(B.service);
  });

  it('filters never reach across: service, node and id filters naming the other cluster find nothing', async () => {
    expect(await json(await asB('GET', `/v1.41/tasks?filters=${enc({ service: [A.service] })}`))).toEqual([]);
    expect(await json(await asB('GET', `/v1.41/tasks?filters=${enc({ service: ['only-a'] })}`))).toEqual([]);
    expect(await json(await asB('GET', `/v1.41/tasks?filters=${enc({ node: [A.node] })}`))).toEqual([]);
    expect(await json(await asB('GET', `/v1.41/services?filters=${enc({ id: [A.service] })}`))).toEqual([]);
    expect(await json(await asB('GET', `/v1.41/services?filters=${enc({ name: ['only'] })}`))).toEqual([]);
    expect(await json(await asB('GET', `/v1.41/nodes?filters=${enc({ id: [A.node] })}`))).toEqual([]);
  });

  it('writes to the other cluster\'s objects are 404 and change nothing', async () => {
    const sA = await json(await t.request('GET', `/v1.41/services/${A.service}`));
    await expectRefusedWithoutChange(t, () => asB('POST', `/v1.41/services/${A.service}/update?version=${sA.Version.Index}`, sA.Spec), 404, /not found/);
    await expectRefusedWithoutChange(t, () => asB('DELETE', `/v1.41/services/${A.service}`), 404, /not found/);
    await expectRefusedWithoutChange(t, () => asB('DELETE', '/v1.41/services/only-a'), 404, /not found/);
    const nA = await json(await t.request('GET', `/v1.41/nodes/${A.node}`));
    await expectRefusedWithoutChange(t, () => asB('POST', `/v1.41/nodes/${A.node}/update?version=${nA.Version.Index}`, { ...nA.Spec, Availability: 'drain' }), 404, /not found/);
  });

  it('each swarm shows its own ID and join tokens', async () => {
    const swarmA = await json(await t.request('GET', '/v1.41/swarm'));
    const swarmB = await json(await asB('GET', '/v1.41/swarm'));
    expect(swarmA.ID).toBe(A.cluster);
    expect(swarmB.ID).toBe(B.cluster);
    expect(decodeJwt(swarmA.JoinTokens.Worker).cid).toBe(A.cluster);
    expect(decodeJwt(swarmB.JoinTokens.Worker).cid).toBe(B.cluster);
  });
});

describe('join tokens stay in their cluster', () => {
  it('a node joined with B\'s token belongs to B only', async () => {
    const joined = await json(await join(t, B.token, 'host-b2'));
    expect(joined.clusterId).toBe(B.cluster);
    expect((await json<any[]>(await asB('GET', '/v1.41/nodes'))).map((n) => n.ID)).toContain(joined.nodeId);
    expect((await json<any[]>(await t.request('GET', '/v1.41/nodes'))).map((n) => n.ID)).not.toContain(joined.nodeId);
  });

  it('a join token of A is not an API key for either cluster', async () => {
    const tokenA = await workerToken(t);
    await expectRefusedWithoutChange(t, () => t.request('GET', '/v1.41/services', undefined, { Authorization: `Bearer ${tokenA}` }), 401, /invalid API key/);
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', '/v1.41/services/create', serviceSpec('sneaky'), { Authorization: `Bearer ${tokenA}` }),
      401,
      /invalid API key/,
    );
  });

  it('A\'s token with its kid rewritten to B is refused', async () => {
    const tokenA = await workerToken(t);
    const [h, p, s] = tokenA.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    await expectRefusedWithoutChange(t, () => join(t, `${b64({ ...header, kid: B.cluster })}.${p}.${s}`, 'x1'), 401, /invalid join token/, expectAgentError);
    await expectRefusedWithoutChange(t, () => join(t, `${b64({ ...header, kid: B.cluster })}.${b64({ ...payload, cid: B.cluster })}.${s}`, 'x2'), 401, /invalid join token/, expectAgentError);
  });

  it('rotating B\'s token does not touch A\'s', async () => {
    const tokenA = await workerToken(t);
    const swarmB = await json(await asB('GET', '/v1.41/swarm'));
    expect((await asB('POST', `/v1.41/swarm/update?rotateWorkerToken=true&version=${swarmB.Version.Index}`, swarmB.Spec)).status).toBe(200);
    expect(await workerToken(t)).toBe(tokenA);
    await expectAgentError(await join(t, B.token, 'late-b'), 401, /rotated or revoked/);
    expect((await json(await join(t, tokenA, 'late-a'))).clusterId).toBe(A.cluster);
  });
});
