import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, enc, expectDockerError, expectRefusedWithoutChange, json } from './helpers.ts';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(() => t.close());

/** Exactly what `docker service create --replicas 3 --name web -p 8080:80 local/busybox:1 httpd -f -p 80` posts. */
const webSpec = () =>
  serviceSpec('web', 3, {
    EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
  });

const getService = async (ref: string, query = '') => json(await t.request('GET', `/v1.41/services/${ref}${query}`));

describe('POST /services/create', () => {
  it('answers 201 with a 25-character ID and stores the spec exactly as posted', async () => {
    const res = await t.request('POST', '/v1.41/services/create', webSpec());
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(Object.keys(body)).toEqual(['ID']);
    expect(body.ID).toMatch(/^[0-9a-z]{25}$/);
    const s = await getService(body.ID, '?insertDefaults=false');
    expect(s.Spec).toEqual(webSpec());
    expect(s.Endpoint.Ports).toEqual([{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]);
    expect(s.PreviousSpec).toBeUndefined();
    expect(s.UpdateStatus).toBeUndefined();
  });

  it('creates one pending task per replica, slots 1..N, with no node (no agents yet)', async () => {
    const id = await createService(t, webSpec());
    const tasks = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc({ service: [id] })}`));
    expect(tasks.map((x) => x.Slot).sort()).toEqual([1, 2, 3]);
    for (const task of tasks) {
      expect(task).toMatchObject({ ServiceID: id, DesiredState: 'running', Status: { State: 'pending' }, Spec: { ContainerSpec: { Image: 'local/busybox:1' } } });
      expect(task.NodeID).toBeUndefined();
    }
  });

  it('gives a service posted without a name a generated one', async () => {
    const { Name: _omit, ...spec } = serviceSpec('x');
    const id = await createService(t, spec);
    expect((await getService(id)).Spec.Name).toMatch(/^[a-z0-9-]+$/);
  });

  it('allocates a published port from the dynamic range for -p 80 and keeps it across updates', async () => {
    const id = await createService(t, serviceSpec('dyn', 1, { EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' }] } }));
    const s = await getService(id);
    const port = s.Endpoint.Ports[0].PublishedPort;
    expect(port).toBeGreaterThanOrEqual(30000);
    expect(port).toBeLessThanOrEqual(32767);
    const res = await t.request('POST', `/v1.41/services/${id}/update?version=${s.Version.Index}`, { ...s.Spec, Mode: { Replicated: { Replicas: 2 } } });
    expect(res.status).toBe(200);
    expect((await getService(id)).Endpoint.Ports[0].PublishedPort).toBe(port);
  });

  it('refuses a second service on the same ingress port with 409', async () => {
    await createService(t, webSpec());
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', '/v1.41/services/create', { ...webSpec(), Name: 'web2' }),
      409,
      /^port 8080\/tcp is already published by service web$/,
    );
  });
});

describe('GET /services and /services/{id}', () => {
  it('lists services with ServiceStatus only when ?status=true', async () => {
    const id = await createService(t, webSpec());
    const [withStatus] = await json<any[]>(await t.request('GET', '/v1.41/services?status=true'));
    expect(withStatus.ID).toBe(id);
    expect(withStatus.ServiceStatus).toEqual({ RunningTasks: 0, DesiredTasks: 3, CompletedTasks: 0 });
    const [plain] = await json<any[]>(await t.request('GET', '/v1.41/services'));
    expect(plain.ServiceStatus).toBeUndefined();
  });

  it('filters by id prefix, name prefix, label and mode; unknown filters are 400', async () => {
    const web = await createService(t, serviceSpec('web', 1, { Labels: { 'com.docker.stack.namespace': 'st' } }));
    const api = await createService(t, serviceSpec('api', 1));
    const global = await createService(t, serviceSpec('agentish', 0, { Mode: { Global: {} } }));
    const ids = async (f: Record<string, string[]>) =>
      (await json<any[]>(await t.request('GET', `/v1.41/services?filters=${enc(f)}`))).map((s) => s.ID).sort();
    expect(await ids({ id: [web.slice(0, 6)] })).toEqual([web]);
    expect(await ids({ name: ['we'] })).toEqual([web]);
    expect(await ids({ name: ['eb'] })).toEqual([]);
    expect(await ids({ label: ['com.docker.stack.namespace'] })).toEqual([web]);
    expect(await ids({ label: ['com.docker.stack.namespace=st'] })).toEqual([web]);
    expect(await ids({ label: ['com.docker.stack.namespace=other'] })).toEqual([]);
    expect(await ids({ mode: ['global'] })).toEqual([global]);
    expect(await ids({ mode: ['replicated'] })).toEqual([web, api].sort());
    await expectDockerError(await t.request('GET', `/v1.41/services?filters=${enc({ bogus: ['1'] })}`), 400, /^Invalid filter 'bogus'$/);
    await expectDockerError(await t.request('GET', '/v1.41/services?filters=notjson'), 400, /invalid filters/);
  });

  it('finds a service by full ID, by name and by unique ID prefix', async () => {
    const id = await createService(t, webSpec());
    for (const ref of [id, 'web', id.slice(0, 3), id.slice(0, 12)]) expect((await getService(ref)).ID).toBe(id);
  });

  it('refuses an ambiguous ID prefix with 400 rather than picking one', async () => {
    // 37 IDs over 36 first characters: at least two share one.
    const ids: string[] = [];
    for (let i = 0; i < 37; i++) ids.push(await createService(t, serviceSpec(`s${i}`, 0)));
    const shared = ids.map((id) => id[0]!).find((c, i, all) => all.indexOf(c) !== i)!;
    await expectRefusedWithoutChange(t, () => t.request('GET', `/v1.41/services/${shared}`), 400, new RegExp(`^service ${shared} is ambiguous \\(more than one match\\); use more of the ID$`));
  });

  it('answers 404 "service X not found" for unknown names, IDs and prefixes', async () => {
    await createService(t, webSpec());
    for (const ref of ['nosuch', 'we', 'zzzzzzzzzzzzzzzzzzzzzzzzz', 'a%25b']) {
      await expectDockerError(await t.request('GET', `/v1.41/services/${ref}`), 404, /^service .+ not found$/);
    }
  });

  it('fills in dockerd\'s defaults with insertDefaults=true and only then', async () => {
    const id = await createService(t, webSpec());
    const plain = await getService(id, '?insertDefaults=false');
    expect(plain.Spec.UpdateConfig).toBeUndefined();
    const full = await getService(id, '?insertDefaults=true');
    expect(full.Spec.TaskTemplate.ContainerSpec).toMatchObject({ Image: 'local/busybox:1', Args: ['httpd', '-f', '-p', '80'], StopGracePeriod: 10_000_000_000 });
    expect(full.Spec.TaskTemplate.RestartPolicy).toEqual({ Condition: 'any', Delay: 5_000_000_000, MaxAttempts: 0 });
    const updateDefaults = { Parallelism: 1, FailureAction: 'pause', Monitor: 5_000_000_000, MaxFailureRatio: 0, Order: 'stop-first' };
    expect(full.Spec.UpdateConfig).toEqual(updateDefaults);
    expect(full.Spec.RollbackConfig).toEqual(updateDefaults);
    // What was posted wins over a default.
    const custom = await createService(t, serviceSpec('custom', 1, { UpdateConfig: { Parallelism: 2, Order: 'start-first' } }));
    expect((await getService(custom, '?insertDefaults=true')).Spec.UpdateConfig).toMatchObject({ Parallelism: 2, Order: 'start-first', Monitor: 5_000_000_000 });
  });
});

describe('POST /services/{id}/update', () => {
  it('scales: replaces the spec, bumps the version, sets PreviousSpec, adds tasks, leaves no UpdateStatus', async () => {
    const id = await createService(t, webSpec());
    const s = await getService('web');
    const res = await t.request('POST', `/v1.41/services/${id}/update?version=${s.Version.Index}`, { ...s.Spec, Mode: { Replicated: { Replicas: 5 } } });
    expect(await json(res)).toEqual({ Warnings: null });
    const after = await getService('web');
    expect(after.Spec.Mode).toEqual({ Replicated: { Replicas: 5 } });
    expect(after.Version.Index).toBeGreaterThan(s.Version.Index);
    expect(after.PreviousSpec).toEqual(s.Spec);
    expect(after.UpdateStatus).toBeUndefined();
    const tasks = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc({ service: ['web'] })}`));
    expect(tasks.map((x) => x.Slot).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('updates the template (--env-add A=1): UpdateStatus updating and PreviousSpec set', async () => {
    const id = await createService(t, webSpec());
    const s = await getService(id);
    const spec = structuredClone(s.Spec);
    spec.TaskTemplate.ContainerSpec.Env = ['A=1'];
    const res = await t.request('POST', `/v1.41/services/${id}/update?registryAuthFrom=spec&version=${s.Version.Index}`, spec);
    expect(await json(res)).toEqual({ Warnings: null });
    const after = await getService(id);
    expect(after.Spec.TaskTemplate.ContainerSpec.Env).toEqual(['A=1']);
    expect(after.PreviousSpec).toEqual(webSpec());
    expect(after.UpdateStatus).toMatchObject({ State: 'updating', Message: 'update in progress' });
  });

  it('rolls back with rollback=previous: Spec and PreviousSpec swap, the posted body is ignored', async () => {
    const id = await createService(t, webSpec());
    const s = await getService(id);
    const updated = structuredClone(s.Spec);
    updated.TaskTemplate.ContainerSpec.Env = ['A=1'];
    await json(await t.request('POST', `/v1.41/services/${id}/update?version=${s.Version.Index}`, updated));
    const mid = await getService(id);
    const res = await t.request('POST', `/v1.41/services/${id}/update?rollback=previous&version=${mid.Version.Index}`, { ...mid.Spec, Labels: { ignored: 'yes' } });
    expect(await json(res)).toEqual({ Warnings: null });
    const after = await getService(id);
    expect(after.Spec).toEqual(webSpec());
    expect(after.PreviousSpec).toEqual(updated);
    expect(after.UpdateStatus).toMatchObject({ State: 'rollback_started', Message: 'manually requested rollback' });
  });

  it('refuses rollback when there is no previous spec', async () => {
    const id = await createService(t, webSpec());
    const s = await getService(id);
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/services/${id}/update?rollback=previous&version=${s.Version.Index}`, s.Spec),
      400,
      /^service web does not have a previous spec to roll back to$/,
    );
  });

  it('requires ?version=', async () => {
    const id = await createService(t, webSpec());
    const s = await getService(id);
    for (const q of ['', '?version=', '?version=x', '?version=1.5']) {
      await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/services/${id}/update${q}`, s.Spec), 400, /^invalid service version '.*': expected the Version.Index read from GET$/);
    }
  });

  it('refuses a stale or future version with "update out of sequence" and changes nothing', async () => {
    const id = await createService(t, webSpec());
    const s = await getService(id);
    for (const v of [s.Version.Index - 1, s.Version.Index + 1]) {
      await expectRefusedWithoutChange(
        t,
        () => t.request('POST', `/v1.41/services/${id}/update?version=${v}`, { ...s.Spec, Mode: { Replicated: { Replicas: 9 } } }),
        409,
        /^update out of sequence: service web is at version \d+, the update was based on \d+; read it again and retry$/,
      );
    }
  });

  it('refuses renaming and an invalid spec', async () => {
    const id = await createService(t, webSpec());
    const s = await getService(id);
    const v = s.Version.Index;
    await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/services/${id}/update?version=${v}`, { ...s.Spec, Name: 'other' }), 400, /renaming a service is not supported/);
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', `/v1.41/services/${id}/update?version=${v}`, { ...s.Spec, Mode: { Replicated: { Replicas: -1 } } }),
      400,
      /Mode\.Replicated\.Replicas must be an integer between 0 and/,
    );
    await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/services/nosuch/update?version=${v}`, s.Spec), 404, /^service nosuch not found$/);
  });
});

describe('DELETE /services/{id}', () => {
  it('removes by name with an empty 200; the service is gone and its tasks are told to stop', async () => {
    const id = await createService(t, webSpec());
    const res = await t.request('DELETE', '/v1.41/services/web');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    await expectDockerError(await t.request('GET', `/v1.41/services/${id}`), 404, /^service [0-9a-z]{25} not found$/);
    expect(await json(await t.request('GET', '/v1.41/services'))).toEqual([]);
    const tasks = await json<any[]>(await t.request('GET', '/v1.41/tasks'));
    for (const task of tasks) expect(['remove', 'shutdown']).toContain(task.DesiredState);
    // The name is free again.
    await createService(t, webSpec());
  });

  it('removes by ID prefix; an unknown service is 404', async () => {
    const id = await createService(t, webSpec());
    expect((await t.request('DELETE', `/v1.41/services/${id.slice(0, 5)}`)).status).toBe(200);
    await expectRefusedWithoutChange(t, () => t.request('DELETE', '/v1.41/services/web'), 404, /^service web not found$/);
  });
});

describe('spec keys in any case, as Go decodes them', () => {
  it('a spec an SDK writes in lower camel case creates the same service as the CLI\'s', async () => {
    const res = await t.request('POST', '/v1.41/services/create', {
      name: 'lower',
      taskTemplate: { containerSpec: { image: 'local/busybox:1', args: ['sleep', '1000'] }, forceUpdate: 0 },
      mode: { replicated: { replicas: 2 } },
      updateConfig: { order: 'start-first', parallelism: 2 },
    });
    const { ID } = await json(res, 201);
    const s = await json(await t.request('GET', `/v1.41/services/${ID}`));
    expect(s.Spec).toMatchObject({
      Name: 'lower',
      TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1', Args: ['sleep', '1000'] } },
      Mode: { Replicated: { Replicas: 2 } },
      UpdateConfig: { Order: 'start-first', Parallelism: 2 },
    });
    const tasks = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc({ service: ['lower'] })}`));
    expect(tasks.filter((x) => x.DesiredState === 'running')).toHaveLength(2);
  });

  it('a swarm update takes its keys in any case too', async () => {
    const swarm = await json(await t.request('GET', '/v1.41/swarm'));
    const res = await t.request('POST', `/v1.41/swarm/update?version=${swarm.Version.Index}`, { ...swarm.Spec, Orchestration: undefined, orchestration: { taskHistoryRetentionLimit: 2 } });
    expect(res.status).toBe(200);
    expect((await json(await t.request('GET', '/v1.41/swarm'))).Spec.Orchestration.TaskHistoryRetentionLimit).toBe(2);
  });
});
