import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { expectAgentError, expectDockerError, expectRefusedWithoutChange, join, json } from './helpers.ts';

/** What `docker swarm init` posts. */
const INIT_REQUEST = {
  ListenAddr: '0.0.0.0:2377',
  AdvertiseAddr: '',
  DataPathAddr: '',
  DataPathPort: 0,
  ForceNewCluster: false,
  Spec: { Labels: null, Orchestration: {}, Raft: { ElectionTick: 0, HeartbeatTick: 0 }, Dispatcher: {}, CAConfig: {}, TaskDefaults: {}, EncryptionConfig: { AutoLockManagers: false } },
  AutoLockManagers: false,
  Availability: '',
  DefaultAddrPool: [],
  SubnetSize: 24,
};

const NOT_A_MANAGER = /^This node is not a swarm manager\. Use "docker swarm init" or "docker swarm join"/;

describe('before docker swarm init', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ initialize: false });
  });
  afterEach(() => t.close());

  it('answers every swarm endpoint with 503 "not a swarm manager"', async () => {
    const calls: [string, string, unknown?][] = [
      ['GET', '/v1.41/swarm'],
      ['GET', '/swarm'],
      ['POST', '/v1.41/swarm/update?version=1', {}],
      ['GET', '/v1.41/nodes'],
      ['GET', '/v1.41/nodes/abc'],
      ['GET', '/v1.41/services'],
      ['POST', '/v1.41/services/create', serviceSpec('web')],
      ['GET', '/v1.41/services/web'],
      ['DELETE', '/v1.41/services/web'],
      ['GET', '/v1.41/tasks'],
      ['GET', '/v1.41/tasks/abc'],
    ];
    for (const [method, path, body] of calls) {
      await expectRefusedWithoutChange(t, () => t.request(method, path, body), 503, NOT_A_MANAGER);
    }
  });

  it('initialises once: the reply is the manager node ID as a JSON string, and the swarm is then active', async () => {
    const res = await t.request('POST', '/v1.41/swarm/init', INIT_REQUEST);
    const nodeId = await json<string>(res);
    expect(nodeId).toMatch(/^[0-9a-z]{25}$/);

    const info = await json(await t.request('GET', '/v1.41/info'));
    expect(info.Swarm).toMatchObject({ NodeID: nodeId, LocalNodeState: 'active', ControlAvailable: true });
    const swarm = await json(await t.request('GET', '/v1.41/swarm'));
    expect(swarm.JoinTokens.Worker).not.toBe('');
    expect(swarm.JoinTokens.Manager).not.toBe('');
    const nodes = await json(await t.request('GET', '/v1.41/nodes'));
    expect(nodes.map((n: { ID: string }) => n.ID)).toEqual([nodeId]);

    await expectRefusedWithoutChange(t, () => t.request('POST', '/v1.41/swarm/init', INIT_REQUEST), 503, /^This node is already part of a swarm\./);
  });

  it('uses --advertise-addr as the address agents are told to reach', async () => {
    const nodeId = await json<string>(await t.request('POST', '/v1.41/swarm/init', { ...INIT_REQUEST, AdvertiseAddr: '10.1.2.3:4000' }));
    const manager = await json(await t.request('GET', `/v1.41/nodes/${nodeId}`));
    expect(manager.ManagerStatus.Addr).toBe('10.1.2.3:4000');
    const swarm = await json(await t.request('GET', '/v1.41/swarm'));
    expect(decodeJwt(swarm.JoinTokens.Worker).url).toBe('http://10.1.2.3:4000');
  });

  it('refuses a malformed AdvertiseAddr and stays uninitialised', async () => {
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', '/v1.41/swarm/init', { ...INIT_REQUEST, AdvertiseAddr: 'http://x y' }),
      400,
      /invalid AdvertiseAddr/,
    );
    await expectDockerError(await t.request('GET', '/v1.41/swarm'), 503, NOT_A_MANAGER);
  });
});

describe('an initialised swarm', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => t.close());

  it('already initialised → 503 with dockerd\'s message', async () => {
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', '/v1.41/swarm/init', INIT_REQUEST),
      503,
      /^This node is already part of a swarm\. Use "docker swarm leave" to leave this swarm and join another one\.$/,
    );
  });

  it('GET /swarm has ID, Version, Spec and JoinTokens that are EdDSA JWTs for this cluster', async () => {
    const swarm = await json(await t.request('GET', '/v1.41/swarm'));
    expect(swarm.ID).toBe(t.clusterId);
    expect(swarm.Version.Index).toBeGreaterThan(0);
    expect(swarm.Spec).toMatchObject({ Orchestration: { TaskHistoryRetentionLimit: 5 }, Dispatcher: { HeartbeatPeriod: 5_000_000_000 } });
    for (const role of ['Worker', 'Manager'] as const) {
      const token = swarm.JoinTokens[role];
      expect(token.split('.')).toHaveLength(3);
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: t.clusterId });
      expect(decodeJwt(token)).toMatchObject({ cid: t.clusterId, role: role.toLowerCase(), aud: 'join', iss: 'swarmlet' });
    }
    // Re-derived tokens are stable between reads.
    const again = await json(await t.request('GET', '/v1.41/swarm'));
    expect(again.JoinTokens).toEqual(swarm.JoinTokens);
  });

  it('GET /swarm/unlockkey answers an empty key (no autolock)', async () => {
    expect(await json(await t.request('GET', '/v1.41/swarm/unlockkey'))).toEqual({ UnlockKey: '' });
  });

  it('rotates the worker token on /swarm/update: the old one stops working, the manager token stays', async () => {
    const before = await json(await t.request('GET', '/v1.41/swarm'));
    const res = await t.request(
      'POST',
      `/v1.41/swarm/update?rotateManagerToken=false&rotateManagerUnlockKey=false&rotateWorkerToken=true&version=${before.Version.Index}`,
      before.Spec,
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const after = await json(await t.request('GET', '/v1.41/swarm'));
    expect(after.JoinTokens.Worker).not.toBe(before.JoinTokens.Worker);
    expect(decodeJwt(after.JoinTokens.Worker).jti).not.toBe(decodeJwt(before.JoinTokens.Worker).jti);
    expect(after.JoinTokens.Manager).toBe(before.JoinTokens.Manager);
    expect(after.Version.Index).toBeGreaterThan(before.Version.Index);

    await expectAgentError(await join(t, before.JoinTokens.Worker, 'old-token-host'), 401, /rotated or revoked/);
    const joined = await json(await join(t, after.JoinTokens.Worker, 'new-token-host'));
    expect(joined.nodeId).toMatch(/^[0-9a-z]{25}$/);
  });

  it('rotates the manager token only when asked', async () => {
    const before = await json(await t.request('GET', '/v1.41/swarm'));
    expect((await t.request('POST', `/v1.41/swarm/update?rotateManagerToken=true&version=${before.Version.Index}`, before.Spec)).status).toBe(200);
    const after = await json(await t.request('GET', '/v1.41/swarm'));
    expect(after.JoinTokens.Manager).not.toBe(before.JoinTokens.Manager);
    expect(after.JoinTokens.Worker).toBe(before.JoinTokens.Worker);
  });

  it('stores the posted spec whole (read-modify-write keeps it)', async () => {
    const before = await json(await t.request('GET', '/v1.41/swarm'));
    const spec = { ...before.Spec, Labels: { team: 'a' }, Orchestration: { TaskHistoryRetentionLimit: 3 } };
    expect((await t.request('POST', `/v1.41/swarm/update?version=${before.Version.Index}`, spec)).status).toBe(200);
    const after = await json(await t.request('GET', '/v1.41/swarm'));
    expect(after.Spec).toEqual(spec);
  });

  it('refuses a stale version with an "update out of sequence" error and rotates nothing', async () => {
    const before = await json(await t.request('GET', '/v1.41/swarm'));
    // One successful update moves the version on: the index read before is now stale.
    expect((await t.request('POST', `/v1.41/swarm/update?version=${before.Version.Index}`, before.Spec)).status).toBe(200);
    for (const version of [before.Version.Index, before.Version.Index + 1000]) {
      await expectRefusedWithoutChange(
        t,
        () => t.request('POST', `/v1.41/swarm/update?rotateWorkerToken=true&version=${version}`, before.Spec),
        409,
        /update out of sequence.*read it again and retry/,
      );
    }
  });

  it('requires ?version=', async () => {
    const before = await json(await t.request('GET', '/v1.41/swarm'));
    for (const q of ['', '?version=', '?version=abc', '?version=-1']) {
      await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/swarm/update${q}`, before.Spec), 400, /invalid swarm version/);
    }
  });

  it('refuses a swarm spec with fields of the wrong type, which would break the CLI later', async () => {
    const before = await json(await t.request('GET', '/v1.41/swarm'));
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...before.Spec, Orchestration: 'five' }, /^Orchestration must be an object$/],
      [{ ...before.Spec, Labels: 'x' }, /^Labels must map strings to strings$/],
      [{ ...before.Spec, Name: 7 }, /^Name must be a string$/],
      [{ ...before.Spec, Dispatcher: { HeartbeatPeriod: 'soon' } }, /^Dispatcher\.HeartbeatPeriod must be a non-negative integer, got "soon"$/],
      [{ ...before.Spec, Orchestration: { TaskHistoryRetentionLimit: -1 } }, /TaskHistoryRetentionLimit must be a non-negative integer/],
      [{ ...before.Spec, EncryptionConfig: { AutoLockManagers: 'yes' } }, /AutoLockManagers must be true or false/],
    ];
    for (const [spec, message] of bad) {
      await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/swarm/update?version=${before.Version.Index}`, spec), 400, message);
    }
  });
});

describe('docker swarm init options', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ initialize: false });
  });
  afterEach(() => t.close());

  const init = (body: unknown) => t.request('POST', '/v1.41/swarm/init', body);

  it("the CLI's default request keeps every default (zero values are not settings)", async () => {
    expect((await init(INIT_REQUEST)).status).toBe(200);
    const swarm = await json(await t.request('GET', '/v1.41/swarm'));
    expect(swarm.Spec).toMatchObject({ Labels: {}, Orchestration: { TaskHistoryRetentionLimit: 5 }, Raft: { ElectionTick: 10, HeartbeatTick: 1 }, Dispatcher: { HeartbeatPeriod: 5e9 } });
    expect(swarm).toMatchObject({ DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24, DataPathPort: 51820 });
  });

  it('honours Spec, DefaultAddrPool, SubnetSize and DataPathPort, and keys in any case', async () => {
    const res = await init({
      ...INIT_REQUEST,
      Spec: { ...INIT_REQUEST.Spec, Labels: { team: 'a' }, Orchestration: { TaskHistoryRetentionLimit: 2 } },
      defaultAddrPool: ['10.20.0.0/16'],
      subnetSize: 26,
      dataPathPort: 7000,
    });
    expect(res.status).toBe(200);
    const swarm = await json(await t.request('GET', '/v1.41/swarm'));
    expect(swarm.Spec).toMatchObject({ Labels: { team: 'a' }, Orchestration: { TaskHistoryRetentionLimit: 2 }, Raft: { ElectionTick: 10 } });
    expect(swarm).toMatchObject({ DefaultAddrPool: ['10.20.0.0/16'], SubnetSize: 26, DataPathPort: 7000 });
    expect((await json(await t.request('GET', '/v1.41/info'))).Swarm.Cluster.DataPathPort).toBe(7000);
  });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ['--autolock', { AutoLockManagers: true }, /^--autolock is not supported/],
    ['autolock in the spec', { Spec: { EncryptionConfig: { AutoLockManagers: true } } }, /^--autolock is not supported/],
    ['--force-new-cluster', { ForceNewCluster: true }, /^--force-new-cluster is not supported/],
    ['--listen-addr', { ListenAddr: '10.0.0.5:2377' }, /^--listen-addr is not supported here: the control plane listens where HOST and PORT say/],
    ['--data-path-addr', { DataPathAddr: '10.0.0.5' }, /^--data-path-addr is set per host/],
    ['a privileged data path port', { DataPathPort: 80 }, /^invalid DataPathPort 80: expected 1024 to 49151/],
    ['a subnet size past /29', { SubnetSize: 30 }, /^invalid SubnetSize 30/],
    ['a pool that is not a CIDR', { DefaultAddrPool: ['10.0.0.0'] }, /^invalid DefaultAddrPool entry "10\.0\.0\.0"/],
    ['a pool smaller than one subnet', { DefaultAddrPool: ['10.0.0.0/28'], SubnetSize: 24 }, /^DefaultAddrPool entry 10\.0\.0\.0\/28 is smaller than a \/24 subnet/],
    ['an external CA', { Spec: { CAConfig: { ExternalCAs: [{ Protocol: 'cfssl', URL: 'https://ca' }] } } }, /^external or custom CAs are not supported/],
    ['a negative task history', { Spec: { Orchestration: { TaskHistoryRetentionLimit: -1 } } }, /^Orchestration\.TaskHistoryRetentionLimit must be a non-negative integer/],
  ];
  for (const [what, change, message] of refusals) {
    it(`refuses ${what} with a clear message, and stays uninitialised`, async () => {
      await expectRefusedWithoutChange(t, () => init({ ...INIT_REQUEST, ...change }), 400, message);
      expect((await t.request('GET', '/v1.41/swarm')).status).toBe(503);
    });
  }
});
