import type { ErrorCode } from '../../protocol/errors.ts';
import { afterAll, beforeAll, expect } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';

const TABLES = ['tenants', 'clusters', 'api_keys', 'join_tokens', 'nodes', 'services', 'tasks', 'leases', 'networks', 'payloads', 'events'] as const;

/**
 * Every row of every table, in a stable order: a request that was refused must leave this
 * exactly as it was.
 */
export async function databaseSnapshot(t: TestApp): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const rs = await t.deps.database.client.execute(`select * from ${table} order by rowid`);
    out[table] = rs.rows.map((r) => ({ ...r }));
  }
  return out;
}

/** What the docker CLI would see of the cluster, plus its change index. */
export async function apiSnapshot(t: TestApp) {
  const [services, tasks, nodes, swarm] = await Promise.all(
    ['/v1.41/services?status=true', '/v1.41/tasks', '/v1.41/nodes', '/v1.41/swarm'].map(async (p) => {
      const res = await t.request('GET', p);
      return { status: res.status, body: await res.json() };
    }),
  );
  const rs = await t.deps.database.client.execute({ sql: 'select change_index from clusters where id = ?', args: [t.clusterId] });
  return { services, tasks, nodes, swarm, changeIndex: Number(rs.rows[0]?.change_index) };
}

/** Runs a request that must be refused and proves it changed nothing, through the API and in the tables. */
export async function expectRefusedWithoutChange(
  t: TestApp,
  send: () => Promise<Response>,
  status: number,
  message: RegExp,
  expectError: (res: Response, status: number, message: RegExp) => Promise<string> = expectDockerError,
) {
  const beforeApi = await apiSnapshot(t);
  const beforeDb = await databaseSnapshot(t);
  const res = await send();
  await expectError(res, status, message);
  expect(await apiSnapshot(t)).toEqual(beforeApi);
  expect(await databaseSnapshot(t)).toEqual(beforeDb);
}

/** Docker's error shape: `{"message": ...}` with Content-Type exactly application/json (the CLI compares it literally). */
export async function expectDockerError(res: Response, status: number, message: RegExp): Promise<string> {
  const text = await res.text();
  expect({ status: res.status, body: text }).toMatchObject({ status });
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['message']);
  expect(body.message).toMatch(message);
  return body.message as string;
}

const AGENT_CODES: Record<number, ErrorCode[]> = {
  400: ['invalid'],
  401: ['unauthorized', 'credential_revoked'],
  404: ['not_found'],
  410: ['gone'],
  413: ['too_large'],
  429: ['rate_limited'],
};

/** The agent API's error shape: Docker's, plus the protocol's error code that agents branch on. */
export async function expectAgentError(res: Response, status: number, message: RegExp): Promise<string> {
  const text = await res.text();
  expect({ status: res.status, body: text }).toMatchObject({ status });
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['message', 'code']);
  expect(AGENT_CODES[status]).toContain(body.code);
  expect(body.message).toMatch(message);
  return body.message as string;
}

export async function json<T = any>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect({ status: res.status, body: text }).toMatchObject({ status });
  return JSON.parse(text) as T;
}

/** What swarm-agent sends about its host on POST /agent/v1/join. */
export function nodeInfo(hostname: string) {
  return {
    hostname,
    nanoCpus: 2_000_000_000,
    memoryBytes: 4 * 1024 ** 3,
    os: 'linux',
    arch: 'x86_64',
    engineVersion: '20.10.24',
    addr: '198.18.0.2',
  };
}

export async function workerToken(t: TestApp): Promise<string> {
  const swarm = await json(await t.request('GET', '/v1.41/swarm'));
  return swarm.JoinTokens.Worker as string;
}

/** Joins a node the way swarm-agent does; no API key, the token is the credential. */
export function join(t: TestApp, token: unknown, hostname = 'host-1'): Promise<Response> {
  return Promise.resolve(
    t.app.request('http://cp.test/agent/v1/join', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token, node: nodeInfo(hostname) }),
    }),
  );
}

export async function joinNode(t: TestApp, hostname = 'host-1'): Promise<{ nodeId: string; credential: string }> {
  return json(await join(t, await workerToken(t), hostname));
}

export async function createService(t: TestApp, spec: Record<string, unknown>): Promise<string> {
  const { ID } = await json<{ ID: string }>(await t.request('POST', '/v1.41/services/create', spec), 201);
  return ID;
}

export const enc = (filters: Record<string, string[]>) =>
  encodeURIComponent(JSON.stringify(Object.fromEntries(Object.entries(filters).map(([k, vs]) => [k, Object.fromEntries(vs.map((v) => [v, true]))]))));

/**
 * A cluster with one service, `web` (2 replicas), for files of refused requests: a partial write
 * would show against it. Registers its own beforeAll/afterAll; read `t` and `webVersion` in tests.
 */
export function refusalFixture() {
  const fixture = { t: undefined as unknown as TestApp, webVersion: 0 };
  beforeAll(async () => {
    fixture.t = await createTestApp();
    await createService(fixture.t, serviceSpec('web', 2));
    fixture.webVersion = (await json(await fixture.t.request('GET', '/v1.41/services/web'))).Version.Index;
  });
  afterAll(() => fixture.t.close());
  return fixture;
}

/** The spec of a one-replica service `api` with its task template and container spec patched. */
export function withTemplate(patch: Record<string, unknown>, container: Record<string, unknown> = {}) {
  const spec = serviceSpec('api', 1);
  return { ...spec, TaskTemplate: { ...spec.TaskTemplate, ...patch, ContainerSpec: { ...spec.TaskTemplate.ContainerSpec, ...container } } };
}
