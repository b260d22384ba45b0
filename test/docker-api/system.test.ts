import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinInProcess, type TestApp } from '../harness/app.ts';
import { expectDockerError, json } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('version negotiation: /_ping', () => {
  it('HEAD /_ping answers 200 with Api-Version 1.41 and no body, as dockerd does', async () => {
    const res = await t.request('HEAD', '/_ping');
    expect(res.status).toBe(200);
    expect(res.headers.get('api-version')).toBe('1.41');
    expect(res.headers.get('ostype')).toBe('linux');
    expect(res.headers.get('docker-experimental')).toBe('false');
    expect(res.headers.get('swarm')).toBe('active/manager');
    expect(await res.text()).toBe('');
  });

  it('GET /_ping answers OK with the same headers', async () => {
    const res = await t.request('GET', '/_ping');
    expect(res.status).toBe(200);
    expect(res.headers.get('api-version')).toBe('1.41');
    expect(await res.text()).toBe('OK');
  });

  it('says inactive before docker swarm init', async () => {
    const fresh = await createTestApp({ initialize: false });
    try {
      const res = await fresh.request('HEAD', '/_ping');
      expect(res.status).toBe(200);
      expect(res.headers.get('api-version')).toBe('1.41');
      expect(res.headers.get('swarm')).toBe('inactive');
    } finally {
      fresh.close();
    }
  });
});

describe('GET /version', () => {
  for (const path of ['/version', '/v1.41/version', '/v1.24/version']) {
    it(`answers on ${path}`, async () => {
      const v = await json(await t.request('GET', path));
      expect(v).toMatchObject({ ApiVersion: '1.41', MinAPIVersion: '1.24', Os: 'linux' });
      expect(typeof v.Version).toBe('string');
      expect(v.Version.length).toBeGreaterThan(0);
    });
  }
});

describe('GET /info', () => {
  it('shows an active swarm managed by the control plane', async () => {
    const info = await json(await t.request('GET', '/v1.41/info'));
    expect(info.Swarm).toMatchObject({ LocalNodeState: 'active', ControlAvailable: true, Managers: 1, Nodes: 1 });
    expect(info.Swarm.NodeID).toMatch(/^[0-9a-z]{25}$/);
    expect(info.Swarm.Cluster.ID).toBe(t.clusterId);
    expect(info.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit).toBe(5);
    expect(info.Swarm.RemoteManagers).toEqual([{ NodeID: info.Swarm.NodeID, Addr: '127.0.0.1:2399' }]);
    // /info and /swarm agree on the cluster
    const swarm = await json(await t.request('GET', '/swarm'));
    expect(swarm.ID).toBe(info.Swarm.Cluster.ID);
  });

  it('shows an inactive swarm before init, without a cluster block', async () => {
    const fresh = await createTestApp({ initialize: false });
    try {
      const info = await json(await fresh.request('GET', '/info'));
      expect(info.Swarm.LocalNodeState).toBe('inactive');
      expect(info.Swarm.ControlAvailable).toBe(false);
      expect(info.Swarm.Cluster).toBeUndefined();
    } finally {
      fresh.close();
    }
  });
});

describe('GET /distribution/{image}/json', () => {
  // The CLI puts the reference into the path unescaped: slashes and colons included.
  for (const image of ['local/busybox:1', 'busybox', 'registry.example.com:5000/team/app:1.2.3', 'a/b/c@sha256:' + 'ab'.repeat(32)]) {
    it(`answers 200 with an empty digest for ${image}`, async () => {
      for (const prefix of ['', '/v1.41']) {
        const body = await json(await t.request('GET', `${prefix}/distribution/${image}/json`));
        expect(body).toEqual({ Descriptor: { mediaType: '', digest: '', size: 0 }, Platforms: [] });
      }
    });
  }
});

describe('paths', () => {
  it('serves the same answer unversioned, under /v1.41/ and under older versions the CLI may negotiate', async () => {
    await json(await t.request('POST', '/v1.41/services/create', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' } } }), 201);
    for (const path of ['/version', '/swarm', '/nodes', '/services', '/services/web', '/tasks']) {
      const plain = await json(await t.request('GET', path));
      expect(await json(await t.request('GET', `/v1.41${path}`))).toEqual(plain);
      expect(await json(await t.request('GET', `/v1.24${path}`))).toEqual(plain);
    }
    // /info carries the lease holder, which may change between calls; compare the swarm block.
    const info = await json(await t.request('GET', '/info'));
    expect((await json(await t.request('GET', '/v1.41/info'))).Swarm).toEqual(info.Swarm);
  });

  it('refuses a version above 1.41 with dockerd\'s words', async () => {
    await expectDockerError(await t.request('GET', '/v1.99/version'), 400, /^client version 1\.99 is too new\. Maximum supported API version is 1\.41$/);
    await expectDockerError(await t.request('GET', '/v1.42/services'), 400, /client version 1\.42 is too new/);
  });

  it('answers an unknown route with 404 page not found', async () => {
    for (const path of ['/nosuch', '/v1.41/nosuch', '/v1.41/services/web/nosuch/deeper']) {
      const res = await t.request('GET', path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({ message: 'page not found' });
    }
    await expectDockerError(await t.request('PUT', '/v1.41/services/create', {}), 404, /^page not found$/);
  });
});

describe('what every answer carries, and the cluster as one engine', () => {
  it('puts Api-Version, Server, Ostype and Docker-Experimental on every response, refusals included', async () => {
    const answers = [
      await t.request('GET', '/v1.41/services'),
      await t.request('GET', '/v1.41/services/nosuch'),
      await t.request('GET', '/v1.41/info', undefined, { Authorization: 'Bearer wrong' }),
      await t.request('GET', '/v1.41/no-such-route'),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 404, 401, 404]);
    for (const res of answers) {
      expect(res.headers.get('api-version')).toBe('1.41');
      expect(res.headers.get('ostype')).toBe('linux');
      expect(res.headers.get('docker-experimental')).toBe('false');
      expect(res.headers.get('server')).toMatch(/^Docker\/\S+ \(linux\)$/);
    }
  });

  it('/info totals the live nodes: NCPU, MemTotal, Nodes; and carries dockerd\'s fields', async () => {
    const fresh = await createTestApp();
    try {
      const empty = await json(await fresh.request('GET', '/v1.41/info'));
      expect(empty).toMatchObject({ NCPU: 0, MemTotal: 0, ServerVersion: expect.any(String), Name: 'control-plane', OSType: 'linux', Containers: 0 });
      await joinInProcess(fresh, { hostname: 'h1', nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 });
      await joinInProcess(fresh, { hostname: 'h2', nanoCpus: 2e9, memoryBytes: 2 * 2 ** 30 });
      const info = await json(await fresh.request('GET', '/v1.41/info'));
      expect(info).toMatchObject({ NCPU: 6, MemTotal: 10 * 2 ** 30, Swarm: { Nodes: 3, Managers: 1 } });
      for (const field of ['ID', 'Containers', 'ContainersRunning', 'Images', 'Driver', 'Plugins', 'KernelVersion', 'OperatingSystem', 'Architecture', 'Runtimes', 'SecurityOptions', 'LiveRestoreEnabled']) {
        expect(info, field).toHaveProperty(field);
      }
    } finally {
      fresh.close();
    }
  });

  it('/system/df answers with empty usage instead of 404', async () => {
    expect(await json(await t.request('GET', '/v1.41/system/df'))).toEqual({ LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] });
  });
});
