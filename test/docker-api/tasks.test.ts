import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orchestrateCluster } from '../../control-plane/orchestrator/orchestrate.ts';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, enc, expectDockerError, joinNode, json } from './helpers.ts';

let t: TestApp;
let web: string;
let api: string;
let nodeId: string;
let allTasks: any[];

const tasksWhere = async (filters: Record<string, string[]>) =>
  json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc(filters)}`));
const idsOf = (tasks: any[]) => tasks.map((x) => x.ID).sort();

beforeAll(async () => {
  t = await createTestApp();
  nodeId = (await joinNode(t, 'worker-a')).nodeId;
  web = await createService(t, serviceSpec('web', 2, { Labels: { tier: 'front' } }));
  // Placement is the leader's job; run one pass here so tasks have a node.
  await t.deps.database.write((tx) => orchestrateCluster(tx, t.clusterId, Date.now(), { schedule: true }));
  api = await createService(t, serviceSpec('api', 1, { Labels: { tier: 'back' } }));
  // A template change makes web's existing tasks out of date.
  const s = await json(await t.request('GET', `/v1.41/services/${web}`));
  const spec = structuredClone(s.Spec);
  spec.TaskTemplate.ContainerSpec.Env = ['A=1'];
  await json(await t.request('POST', `/v1.41/services/${web}/update?version=${s.Version.Index}`, spec));
  allTasks = await json<any[]>(await t.request('GET', '/v1.41/tasks'));
});
afterAll(() => t.close());

describe('GET /tasks', () => {
  it('lists every task of the cluster with the fields service ps and the progress loop read', async () => {
    expect(allTasks.length).toBeGreaterThanOrEqual(3);
    for (const task of allTasks) {
      expect(task.ID).toMatch(/^[0-9a-z]{25}$/);
      expect([web, api]).toContain(task.ServiceID);
      expect(task.Slot).toBeGreaterThan(0);
      expect(typeof task.DesiredState).toBe('string');
      expect(task.Status.State).toMatch(/^[a-z]+$/);
      expect(Date.parse(task.Status.Timestamp)).not.toBeNaN();
      expect(Date.parse(task.CreatedAt)).not.toBeNaN();
      expect(task.Spec.ContainerSpec.Image).toBe('local/busybox:1');
      expect(task.Version.Index).toBeGreaterThan(0);
    }
  });

  it('filters by service ID, name and ID prefix', async () => {
    const webTasks = allTasks.filter((x) => x.ServiceID === web);
    expect(webTasks.length).toBeGreaterThanOrEqual(2);
    for (const ref of [web, 'web', web.slice(0, 5)]) expect(idsOf(await tasksWhere({ service: [ref] }))).toEqual(idsOf(webTasks));
    expect(idsOf(await tasksWhere({ service: ['web', 'api'] }))).toEqual(idsOf(allTasks));
    expect(await tasksWhere({ service: ['nosuch'] })).toEqual([]);
  });

  it('filters by node', async () => {
    const placed = allTasks.filter((x) => x.NodeID === nodeId);
    expect(placed.length).toBeGreaterThan(0);
    expect(idsOf(await tasksWhere({ node: [nodeId] }))).toEqual(idsOf(placed));
    expect(await tasksWhere({ node: ['zzzz'] })).toEqual([]);
  });

  it('filters by desired-state', async () => {
    for (const state of ['running', 'shutdown']) {
      const expected = allTasks.filter((x) => x.DesiredState === state);
      expect(idsOf(await tasksWhere({ 'desired-state': [state] }))).toEqual(idsOf(expected));
    }
    expect(allTasks.some((x) => x.DesiredState === 'running')).toBe(true);
  });

  it('_up-to-date keeps only tasks built from their service\'s current spec', async () => {
    const upToDate = await tasksWhere({ '_up-to-date': ['true'] });
    // api's tasks are current; web's placed tasks predate its update.
    const apiTasks = allTasks.filter((x) => x.ServiceID === api);
    expect(idsOf(upToDate.filter((x) => x.ServiceID === api))).toEqual(idsOf(apiTasks));
    const staleWeb = allTasks.filter((x) => x.ServiceID === web && x.Spec.ContainerSpec.Env === undefined);
    expect(staleWeb.length).toBeGreaterThan(0);
    for (const task of upToDate) expect(staleWeb.map((x) => x.ID)).not.toContain(task.ID);
    for (const task of upToDate.filter((x) => x.ServiceID === web)) expect(task.Spec.ContainerSpec.Env).toEqual(['A=1']);
    // What the CLI's progress loop asks for: one service, up to date.
    const loop = await tasksWhere({ '_up-to-date': ['true'], service: [web] });
    expect(loop.every((x) => x.ServiceID === web && x.Spec.ContainerSpec.Env?.[0] === 'A=1')).toBe(true);
  });

  it('filters by the service\'s labels (key or key=value), which tasks carry', async () => {
    expect(idsOf(await tasksWhere({ label: ['tier=front'] }))).toEqual(idsOf(allTasks.filter((x) => x.ServiceID === web)));
    expect(idsOf(await tasksWhere({ label: ['tier'] }))).toEqual(idsOf(allTasks));
    expect(await tasksWhere({ label: ['tier=nope'] })).toEqual([]);
    expect(allTasks.find((x) => x.ServiceID === api).Labels).toEqual({ tier: 'back' });
  });

  it('refuses unknown filters with 400 "Invalid filter"', async () => {
    await expectDockerError(await t.request('GET', `/v1.41/tasks?filters=${enc({ bogus: ['1'] })}`), 400, /^Invalid filter 'bogus'$/);
    await expectDockerError(await t.request('GET', `/v1.41/tasks?filters=${encodeURIComponent('{"service":"web"}')}`), 400, /invalid filter 'service'/);
  });
});

describe('GET /tasks/{id}', () => {
  it('finds a task by ID and by unique prefix', async () => {
    const task = allTasks[0];
    expect(await json(await t.request('GET', `/v1.41/tasks/${task.ID}`))).toEqual(task);
    expect((await json(await t.request('GET', `/tasks/${task.ID.slice(0, 12)}`))).ID).toBe(task.ID);
  });

  it('answers 404 "task X not found"', async () => {
    await expectDockerError(await t.request('GET', '/v1.41/tasks/nosuch'), 404, /^task nosuch not found$/);
    // service logs falls back to /tasks/<name>: a service name is not a task
    await expectDockerError(await t.request('GET', '/v1.41/tasks/web'), 404, /^task web not found$/);
  });
});
