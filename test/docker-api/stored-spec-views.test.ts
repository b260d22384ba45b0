import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, json } from './helpers.ts';

/**
 * Defence in depth for issue 11, finding 5: validation keeps new specs decodable, but a database
 * may hold a spec stored before a field was checked. The views leave such a field out rather than
 * let one service fail the CLI's decoding of the whole list.
 */
let t: TestApp;
let oldId: string;
beforeAll(async () => {
  t = await createTestApp();
  await createService(t, serviceSpec('web', 1));
  oldId = await createService(t, serviceSpec('old', 1));
  const spec = serviceSpec('old', 1);
  const bad = {
    ...spec,
    Labels: { team: 'a', count: 3 },
    TaskTemplate: {
      ...spec.TaskTemplate,
      ContainerSpec: { ...spec.TaskTemplate.ContainerSpec, Mounts: [{ Type: 'volume', Target: '/data', Source: 5 }], TTY: 'no', XKept: { any: 1 } },
      Placement: { Preferences: [1, { Spread: { SpreadDescriptor: 'node.labels.az' } }] },
    },
  };
  // As a row written before validation checked these fields would hold them.
  const db = t.deps.database.client;
  await db.execute({ sql: 'update services set spec = ?, previous_spec = ? where id = ?', args: [JSON.stringify(bad), JSON.stringify(bad), oldId] });
  await db.execute({ sql: 'update tasks set spec = ? where service_id = ?', args: [JSON.stringify(bad.TaskTemplate), oldId] });
});
afterAll(() => t.close());

const expectDecodable = (spec: any) => {
  expect(spec.Labels).toEqual({ team: 'a' });
  expect(spec.TaskTemplate.ContainerSpec.Mounts).toEqual([{ Type: 'volume', Target: '/data' }]);
  expect(spec.TaskTemplate.ContainerSpec.TTY).toBeUndefined();
  expect(spec.TaskTemplate.ContainerSpec.XKept).toEqual({ any: 1 });
  expect(spec.TaskTemplate.Placement.Preferences).toEqual([{ Spread: { SpreadDescriptor: 'node.labels.az' } }]);
};

it('GET /services lists every service, the odd one without the fields Go cannot decode', async () => {
  const list = await json<any[]>(await t.request('GET', '/v1.41/services?status=true'));
  expect(list.map((s) => s.Spec.Name).sort()).toEqual(['old', 'web']);
  const old = list.find((s) => s.ID === oldId);
  expectDecodable(old.Spec);
  expectDecodable(old.PreviousSpec);
  expect(list.find((s) => s.ID !== oldId).Spec).toEqual(serviceSpec('web', 1));
});

it('inspect, with and without defaults, shows it the same way', async () => {
  expectDecodable((await json(await t.request('GET', '/v1.41/services/old'))).Spec);
  expectDecodable((await json(await t.request('GET', '/v1.41/services/old?insertDefaults=true'))).Spec);
});

it('GET /tasks shows its tasks decodable too', async () => {
  const tasks = await json<any[]>(await t.request('GET', '/v1.41/tasks'));
  const mine = tasks.filter((x) => x.ServiceID === oldId);
  expect(mine.length).toBeGreaterThan(0);
  for (const task of mine) {
    expect(task.Spec.ContainerSpec.Mounts).toEqual([{ Type: 'volume', Target: '/data' }]);
    expect(task.Spec.Placement.Preferences).toEqual([{ Spread: { SpreadDescriptor: 'node.labels.az' } }]);
    expect(task.Labels).toEqual({ team: 'a' });
  }
});
