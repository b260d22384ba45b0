import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';
import { loadEngineApi } from './engine-api.ts';
import { contractViolations, validate } from './schema.ts';

/**
 * Every swarm route, called as clients call it, checked against the v1.41 definitions. (Every
 * other in-process test is checked too: the harness's request() runs the same check.)
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function checked(method: string, path: string, body?: unknown) {
  const res = await t.app.request(`http://cp.test${path}`, {
    method,
    headers: { Authorization: `Bearer ${t.apiKey}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { res, violations: await contractViolations(method, path, res) };
}

describe('the Engine API contract, route by route', () => {
  it('every swarm route the project serves answers in the shape the definitions give', async () => {
    const { nodeId } = await joinInProcess(t, { hostname: 'contract-host' });
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/v1.41/version'],
      ['GET', '/v1.41/info'],
      ['GET', '/v1.41/system/df'],
      ['GET', '/v1.41/swarm'],
      ['GET', '/v1.41/nodes'],
      ['GET', `/v1.41/nodes/${nodeId}`],
      ['POST', '/v1.41/services/create', serviceSpec('contract', 2, { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 0 }] } })],
      ['GET', '/v1.41/services?status=true'],
      ['GET', '/v1.41/services/contract?insertDefaults=true'],
      ['GET', '/v1.41/tasks'],
      ['GET', '/v1.41/services/nosuch'],
      ['POST', '/v1.41/services/create', { Name: 'bad' }],
    ];
    const seen: string[] = [];
    for (const [method, path, body] of calls) {
      const { res, violations } = await checked(method, path, body);
      expect(violations, `${method} ${path}`).toEqual([]);
      seen.push(`${method} ${path} ${res.status}`);
    }
    expect(seen.filter((s) => / [45]\d\d$/.test(s))).toEqual(['GET /v1.41/services/nosuch 404', 'POST /v1.41/services/create 400']);
    const [task] = await (await t.request('GET', '/v1.41/tasks')).json();
    expect((await checked('GET', `/v1.41/tasks/${task.ID}`)).violations).toEqual([]);
    const service = await (await t.request('GET', '/v1.41/services/contract')).json();
    const update = await checked('POST', `/v1.41/services/contract/update?version=${service.Version.Index}`, { ...service.Spec, Mode: { Replicated: { Replicas: 3 } } });
    expect(update.violations).toEqual([]);
    expect(await update.res.json()).toEqual({ Warnings: null });
  });

  it('each docker events line is an EventMessage', async () => {
    const res = await t.request('GET', `/v1.41/events?since=0&until=${Date.now() / 1000 + 1}`);
    const lines = (await res.text()).trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    const api = loadEngineApi('1.41');
    for (const line of lines) expect(validate(api, { $ref: '#/definitions/EventMessage' }, JSON.parse(line))).toEqual([]);
  });

  it('can fail: answers of the wrong shape are caught', () => {
    const api = loadEngineApi('1.41');
    const service = { ID: 'x', Version: { Index: '3' }, Spec: { Name: 7, Mode: { Replicated: { Replicas: 'two' } } }, UpdateStatus: { State: 'sideways' } };
    expect(validate(api, { $ref: '#/definitions/Service' }, service)).toEqual([
      '$.Version.Index: expected an integer, got "3"',
      '$.Spec.Name: expected a string, got 7',
      '$.Spec.Mode.Replicated.Replicas: expected an integer, got "two"',
      '$.UpdateStatus.State: expected one of updating, paused, completed, got "sideways"',
    ]);
    expect(validate(api, { $ref: '#/definitions/Node' }, { Status: { State: null } })).toEqual(['$.Status.State: null where the schema says string']);
  });
});
