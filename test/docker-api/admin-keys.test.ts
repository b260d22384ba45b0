import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../control-plane/app.ts';
import { buildDeps } from '../../control-plane/deps.ts';
import { logChunks, logRequests } from '../../control-plane/db/schema/index.ts';
import { sha256Hex } from '../../control-plane/ids.ts';
import { orchestrateCluster } from '../../control-plane/orchestrator/orchestrate.ts';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, expectAgentError, expectDockerError, join, json, workerToken } from './helpers.ts';

/**
 * The admin API's key management and cluster deletion, on two clusters of one control plane:
 * A from the harness, B (and C, for deletion) created through the admin API.
 */
let t: TestApp;
const ADMIN = 'Bearer admin-secret-for-tests';

function admin(method: string, path: string, body?: unknown, auth = ADMIN): Promise<Response> {
  return Promise.resolve(
    t.app.request(`http://cp.test/admin/v1${path}`, {
      method,
      headers: { Authorization: auth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }),
  );
}

/** `GET /v1.41/services` with a key: what the docker CLI's `service ls` sends. */
const services = (key: string) => t.request('GET', '/v1.41/services', undefined, { Authorization: `Bearer ${key}` });

async function createClusterViaAdmin(tenant: string, name: string): Promise<{ clusterId: string; apiKey: string }> {
  return json(await admin('POST', '/clusters', { tenant, name }), 201);
}

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('API keys of a cluster', () => {
  let b: { clusterId: string; apiKey: string };
  beforeAll(async () => {
    b = await createClusterViaAdmin('keys', 'b');
  });

  it('lists keys without their secrets or hashes, and shows a new key\'s secret once', async () => {
    const extra = await json(await admin('POST', `/clusters/${b.clusterId}/api-keys`, { name: 'ci' }), 201);
    expect(Object.keys(extra).sort()).toEqual(['apiKey', 'createdAt', 'id', 'name', 'revokedAt']);
    expect(extra).toMatchObject({ name: 'ci', revokedAt: null });
    expect(extra.apiKey).toMatch(/^swl_/);
    expect((await services(extra.apiKey)).status).toBe(200);

    const res = await admin('GET', `/clusters/${b.clusterId}/api-keys`);
    const text = await res.clone().text();
    const keys = await json<any[]>(res);
    expect(keys.map((k) => k.name)).toEqual(['default', 'ci']);
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(['createdAt', 'id', 'name', 'revokedAt']);
    expect(keys[1].id).toBe(extra.id);
    for (const secret of [b.apiKey, extra.apiKey]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(await sha256Hex(secret));
    }
  });

  it('an empty POST makes a key named "default"', async () => {
    const res = await t.app.request(`http://cp.test/admin/v1/clusters/${b.clusterId}/api-keys`, { method: 'POST', headers: { Authorization: ADMIN } });
    const key = await json(res, 201);
    expect(key.name).toBe('default');
    expect((await services(key.apiKey)).status).toBe(200);
  });

  it('a revoked key is refused at once while another key of the cluster works', async () => {
    const doomed = await json(await admin('POST', `/clusters/${b.clusterId}/api-keys`, { name: 'doomed' }), 201);
    expect((await services(doomed.apiKey)).status).toBe(200);
    expect((await admin('DELETE', `/clusters/${b.clusterId}/api-keys/${doomed.id}`)).status).toBe(204);
    await expectDockerError(await services(doomed.apiKey), 401, /^invalid API key: it is unknown or revoked/);
    expect((await services(b.apiKey)).status).toBe(200);

    const listed = (await json<any[]>(await admin('GET', `/clusters/${b.clusterId}/api-keys`))).find((k) => k.id === doomed.id);
    expect(listed.revokedAt).toEqual(expect.any(String));
    // Revoking again changes nothing, not even the time of revocation.
    expect((await admin('DELETE', `/clusters/${b.clusterId}/api-keys/${doomed.id}`)).status).toBe(204);
    const again = (await json<any[]>(await admin('GET', `/clusters/${b.clusterId}/api-keys`))).find((k) => k.id === doomed.id);
    expect(again.revokedAt).toBe(listed.revokedAt);
  });

  it('rotation gives a working key of the same name and ends the old one', async () => {
    const old = await json(await admin('POST', `/clusters/${b.clusterId}/api-keys`, { name: 'deploy' }), 201);
    const rotated = await json(await admin('POST', `/clusters/${b.clusterId}/api-keys/${old.id}/rotate`), 201);
    expect(rotated).toMatchObject({ name: 'deploy', replaces: old.id, revokedAt: null });
    expect(rotated.id).not.toBe(old.id);
    expect((await services(rotated.apiKey)).status).toBe(200);
    await expectDockerError(await services(old.apiKey), 401, /^invalid API key/);

    const keys = await json<any[]>(await admin('GET', `/clusters/${b.clusterId}/api-keys`));
    expect(keys.find((k) => k.id === old.id).revokedAt).toEqual(expect.any(String));
    expect(keys.find((k) => k.id === rotated.id).revokedAt).toBeNull();
    await expectDockerError(await admin('POST', `/clusters/${b.clusterId}/api-keys/${old.id}/rotate`), 409, /^API key \w+ is already revoked/);
  });

  it('keys are reached through their own cluster only', async () => {
    const keysOfA = await json<any[]>(await admin('GET', `/clusters/${t.clusterId}/api-keys`));
    const keyOfA = keysOfA[0].id;
    await expectDockerError(await admin('DELETE', `/clusters/${b.clusterId}/api-keys/${keyOfA}`), 404, /^API key \w+ not found in cluster/);
    await expectDockerError(await admin('POST', `/clusters/${b.clusterId}/api-keys/${keyOfA}/rotate`), 404, /not found/);
    expect((await t.request('GET', '/v1.41/services')).status).toBe(200);
    await expectDockerError(await admin('GET', '/clusters/nosuchcluster/api-keys'), 404, /^cluster nosuchcluster not found$/);
    await expectDockerError(await admin('POST', '/clusters/nosuchcluster/api-keys', {}), 404, /^cluster nosuchcluster not found$/);
    await expectDockerError(await admin('POST', `/clusters/${b.clusterId}/api-keys`, { name: 'Bad Name' }), 400, /^name must be a lowercase name/);
  });

  it('every route wants the admin token, not a cluster key', async () => {
    for (const auth of ['Bearer wrong', `Bearer ${b.apiKey}`]) {
      for (const [method, path] of [
        ['GET', `/clusters/${b.clusterId}/api-keys`],
        ['POST', `/clusters/${b.clusterId}/api-keys`],
        ['DELETE', `/clusters/${b.clusterId}/api-keys/x`],
        ['POST', `/clusters/${b.clusterId}/api-keys/x/rotate`],
        ['DELETE', `/clusters/${b.clusterId}`],
      ] as const) {
        await expectDockerError(await admin(method, path, undefined, auth), 401, /^invalid admin token$/);
      }
    }
    expect((await services(b.apiKey)).status).toBe(200);
  });
});

/** Every table with a `cluster_id` column, read from the database file itself. */
async function clusterTables(): Promise<string[]> {
  const tables = await t.deps.database.client.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '__drizzle%'");
  const out: string[] = [];
  for (const { name } of tables.rows) {
    const columns = await t.deps.database.client.execute(`pragma table_info(${String(name)})`);
    if (columns.rows.some((c) => c.name === 'cluster_id')) out.push(String(name));
  }
  return out;
}

async function rowsOf(clusterId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of await clusterTables()) {
    const rs = await t.deps.database.client.execute({ sql: `select count(*) as n from ${table} where cluster_id = ?`, args: [clusterId] });
    out[table] = Number(rs.rows[0]!.n);
  }
  // Log chunks have no cluster column: counted by the log request they answer, which may be gone.
  const chunks = await t.deps.database.client.execute({
    sql: 'select count(*) as n from log_chunks where request_id = ?',
    args: [logRequestOf(clusterId)],
  });
  out.log_chunks = Number(chunks.rows[0]!.n);
  const clusters = await t.deps.database.client.execute({ sql: 'select count(*) as n from clusters where id = ?', args: [clusterId] });
  out.clusters = Number(clusters.rows[0]!.n);
  return out;
}

const logRequestOf = (clusterId: string) => `log${clusterId.slice(0, 22)}`;

/** A `docker service logs` in flight: a request to the node and a chunk on its way back. */
async function openLogRequest(clusterId: string, nodeId: string, serviceId: string) {
  const id = logRequestOf(clusterId);
  const now = Date.now();
  await t.deps.database.write(async (tx) => {
    await tx.insert(logRequests).values({ id, clusterId, nodeId, serviceId, taskIds: [], follow: true, timestamps: false, createdIndex: 1, expiresAt: now + 60_000, createdAt: now });
    await tx.insert(logChunks).values({ requestId: id, data: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 1, 120]), expiresAt: now + 60_000 });
  });
}

describe('deleting a cluster', () => {
  const as = (key: string) => (method: string, path: string, body?: unknown) => t.request(method, path, body, { Authorization: `Bearer ${key}` });
  const agent = (credential: string, app = t.app) =>
    Promise.resolve(app.request('http://cp.test/agent/v1/assignments?index=0', { headers: { Authorization: `Bearer ${credential}` } }));
  let c: { clusterId: string; apiKey: string };
  let nodeA: string;
  let nodeC: string;
  let before: Record<string, number>;
  let beforeA: Record<string, number>;

  beforeAll(async () => {
    c = await createClusterViaAdmin('doomed', 'c');
    const serviceA = await createService(t, serviceSpec('web', 1));
    const serviceC = (await json(await as(c.apiKey)('POST', '/v1.41/services/create', serviceSpec('web', 2)), 201)).ID;
    await json(await as(c.apiKey)('POST', '/v1.41/networks/create', { Name: 'backend', Driver: 'overlay' }), 201);
    nodeA = (await json(await join(t, await workerToken(t), 'host-a'))).credential;
    const joinedC = await json(await join(t, (await json(await as(c.apiKey)('GET', '/v1.41/swarm'))).JoinTokens.Worker, 'host-c'));
    nodeC = joinedC.credential;
    for (const id of [t.clusterId, c.clusterId]) await t.deps.database.write((tx) => orchestrateCluster(tx, id, Date.now(), { schedule: true }));
    await openLogRequest(c.clusterId, joinedC.nodeId, serviceC);
    await openLogRequest(t.clusterId, 'somenode', serviceA);
    await json(await admin('POST', `/clusters/${c.clusterId}/api-keys`, { name: 'second' }), 201);
    // Both credentials have been used (and so remembered as verified) before the deletion.
    expect((await agent(nodeC)).status).toBe(200);
    expect((await agent(nodeA)).status).toBe(200);
    before = await rowsOf(c.clusterId);
    beforeA = await rowsOf(t.clusterId);
  });

  it('had rows of the cluster in every table to delete', () => {
    for (const table of ['api_keys', 'join_tokens', 'nodes', 'services', 'tasks', 'networks', 'events', 'log_requests', 'log_chunks', 'clusters']) {
      expect(before[table], table).toBeGreaterThan(0);
    }
  });

  it('leaves no row of it in any table', async () => {
    expect((await admin('DELETE', `/clusters/${c.clusterId}`)).status).toBe(204);
    const after = await rowsOf(c.clusterId);
    expect(Object.values(after).every((n) => n === 0), JSON.stringify(after)).toBe(true);
    // Nor anywhere else: no row of any table mentions the cluster's ID.
    const tables = await t.deps.database.client.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'");
    for (const { name } of tables.rows) {
      const rs = await t.deps.database.client.execute(`select * from ${String(name)}`);
      const mentions = rs.rows.filter((r) => JSON.stringify(Object.values(r), (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes(c.clusterId));
      expect({ table: name, mentions }).toEqual({ table: name, mentions: [] });
    }
  });

  it('its API keys are refused', async () => {
    await expectDockerError(await services(c.apiKey), 401, /^invalid API key/);
  });

  it('its nodes\' credentials are refused as revoked (agents stop), remembered as verified or not', async () => {
    const revoked = async (res: Response) => {
      const message = await expectAgentError(res.clone(), 401, /^node credential revoked/);
      expect({ message, code: (await res.json()).code }).toEqual({ message, code: 'credential_revoked' });
    };
    await revoked(await agent(nodeC));
    // A fresh instance on the same database has never verified the credential.
    const deps = buildDeps(t.config, t.deps.database, t.deps.keyRing, { publicUrl: () => 'http://127.0.0.1:2399' });
    try {
      await revoked(await agent(nodeC, createApp(deps)));
      // A malformed credential names no cluster: still the plain 401, which an agent may retry.
      const malformed = await agent('not-a-jwt', createApp(deps));
      expect((await malformed.clone().json()).code).toBe('unauthorized');
      await expectAgentError(malformed, 401, /^malformed node credential$/);
    } finally {
      deps.notifier.close();
    }
  });

  it('a second delete, and its key routes, are 404', async () => {
    await expectDockerError(await admin('DELETE', `/clusters/${c.clusterId}`), 404, /^cluster \w+ not found$/);
    await expectDockerError(await admin('GET', `/clusters/${c.clusterId}/api-keys`), 404, /not found/);
  });

  it('leaves the other cluster\'s rows, services, key and nodes working', async () => {
    expect(await rowsOf(t.clusterId)).toEqual(beforeA);
    const listed = await json<any[]>(await t.request('GET', '/v1.41/services'));
    expect(listed.map((s) => s.Spec.Name)).toEqual(['web']);
    expect((await json<any[]>(await t.request('GET', '/v1.41/nodes'))).map((n) => n.Description.Hostname)).toContain('host-a');
    expect((await agent(nodeA)).status).toBe(200);
    // And the same names are free again for the tenant.
    expect((await createClusterViaAdmin('doomed', 'c')).clusterId).not.toBe(c.clusterId);
  });
});
