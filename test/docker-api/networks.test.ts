import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../harness/docker-cli.ts';
import { createTestApp, joinInProcess, serviceSpec, type TestApp, useLeaderApp } from '../harness/app.ts';
import { createService, enc, expectDockerError, expectRefusedWithoutChange, json } from './helpers.ts';

/** What `docker network create -d overlay NAME` posts (CLI 28 against API 1.41). */
const overlay = (name: string, extra: Record<string, unknown> = {}) => ({
  Name: name,
  CheckDuplicate: true,
  Driver: 'overlay',
  Scope: '',
  EnableIPv6: false,
  IPAM: { Driver: 'default', Options: {}, Config: [] },
  Internal: false,
  Attachable: false,
  Ingress: false,
  ConfigOnly: false,
  ConfigFrom: null,
  Options: {},
  Labels: {},
  ...extra,
});

describe('the networks API', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => t.close());
  const create = (body: unknown) => t.request('POST', '/v1.41/networks/create', body);

  it('lists the predefined ingress network after swarm init, as Docker does', async () => {
    const [ingress] = await json(await t.request('GET', '/v1.41/networks'));
    expect(ingress).toMatchObject({ Name: 'ingress', Scope: 'swarm', Driver: 'overlay', Ingress: true, IPAM: { Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }] } });
    expect(ingress.Id).toMatch(/^[0-9a-z]{25}$/);
  });

  it('creates overlay networks with subnets from the pool or as asked, and inspects them by name or ID prefix', async () => {
    const { Id } = await json(await create(overlay('front', { Labels: { team: 'a' }, Attachable: true })), 201);
    await json(await create(overlay('back', { IPAM: { Driver: 'default', Config: [{ Subnet: '10.50.0.0/24', Gateway: '10.50.0.254' }] } })), 201);
    const front = await json(await t.request('GET', '/v1.41/networks/front'));
    expect(front).toMatchObject({ Id, Name: 'front', Attachable: true, Labels: { team: 'a' }, IPAM: { Config: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] } });
    expect((await json(await t.request('GET', `/v1.41/networks/${Id.slice(0, 6)}`))).Name).toBe('front');
    expect((await json(await t.request('GET', '/v1.41/networks/back'))).IPAM.Config).toEqual([{ Subnet: '10.50.0.0/24', Gateway: '10.50.0.254' }]);
    const names = async (f: Record<string, string[]>) => (await json<any[]>(await t.request('GET', `/v1.41/networks?filters=${enc(f)}`))).map((n) => n.Name).sort();
    expect(await names({ type: ['custom'] })).toEqual(['back', 'front']);
    expect(await names({ type: ['builtin'] })).toEqual(['ingress']);
    expect(await names({ label: ['team=a'] })).toEqual(['front']);
    expect(await names({ name: ['ron'] })).toEqual(['front']);
    expect(await names({ driver: ['bridge'] })).toEqual([]);
  });

  const refusals: Array<[string, Record<string, unknown>, number, RegExp]> = [
    ['a bridge network', overlay('br', { Driver: 'bridge' }), 400, /^network driver "bridge" is not supported: a swarm's networks span its hosts; use -d overlay$/],
    ['a malformed subnet', overlay('m', { IPAM: { Config: [{ Subnet: '10.1.0.0/33' }] } }), 400, /^invalid subnet "10\.1\.0\.0\/33"/],
    ['a subnet that is not a network address', overlay('m', { IPAM: { Config: [{ Subnet: '10.1.0.5/24' }] } }), 400, /did you mean 10\.1\.0\.0\/24\?/],
    ['a subnet overlapping ingress', overlay('m', { IPAM: { Config: [{ Subnet: '10.0.0.0/16' }] } }), 409, /^subnet 10\.0\.0\.0\/16 overlaps network ingress's 10\.0\.0\.0\/24$/],
    ['a gateway outside the subnet', overlay('m', { IPAM: { Config: [{ Subnet: '10.7.0.0/24', Gateway: '10.8.0.1' }] } }), 400, /^invalid gateway 10\.8\.0\.1: it is outside the subnet 10\.7\.0\.0\/24$/],
    ['IPv6', overlay('m', { EnableIPv6: true }), 400, /^IPv6 overlay networks are not supported yet$/],
    ['a second ingress', overlay('m', { Ingress: true }), 400, /^the swarm has its ingress network already$/],
    ['a bad name', overlay('-x'), 400, /^invalid network name "-x"/],
    ['the ingress name', overlay('ingress'), 409, /^network with name ingress already exists$/],
  ];
  for (const [what, body, status, message] of refusals) {
    it(`refuses ${what}, writing nothing`, () => expectRefusedWithoutChange(t, () => create(body), status, message));
  }

  it('removes a network no service uses; refuses one in use, naming the service, and the ingress network', async () => {
    await json(await create(overlay('front')), 201);
    await createService(t, serviceSpec('web', 1, { TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, Networks: [{ Target: 'front', Aliases: ['www'] }] } }));
    const stored = await json(await t.request('GET', '/v1.41/services/web'));
    const front = await json(await t.request('GET', '/v1.41/networks/front'));
    // Stored as dockerd stores it: the network's ID, not the name the CLI sent.
    expect(stored.Spec.TaskTemplate.Networks).toEqual([{ Target: front.Id, Aliases: ['www'] }]);
    await expectRefusedWithoutChange(t, () => t.request('DELETE', '/v1.41/networks/front'), 409, /^network front is in use by service web; remove the service or its --network first$/);
    await expectRefusedWithoutChange(t, () => t.request('DELETE', '/v1.41/networks/ingress'), 412, /^the ingress network is the routing mesh's and cannot be removed$/);
    expect((await t.request('DELETE', '/v1.41/services/web')).status).toBe(200);
    expect((await t.request('DELETE', '/v1.41/networks/front')).status).toBe(204);
    await expectDockerError(await t.request('GET', '/v1.41/networks/front'), 404, /^network front not found$/);
  });

  it('refuses a service on an unknown network (404) or on ingress (400), writing nothing', async () => {
    const on = (target: string) => serviceSpec('x', 1, { TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, Networks: [{ Target: target }] } });
    await expectRefusedWithoutChange(t, () => t.request('POST', '/v1.41/services/create', on('nope')), 404, /^network nope not found$/);
    await expectRefusedWithoutChange(t, () => t.request('POST', '/v1.41/services/create', on('ingress')), 400, /^service cannot be explicitly attached to the ingress network/);
  });

  it('refuses dnsrr with an ingress port as dockerd does, writing nothing', async () => {
    const refused = serviceSpec('rr-published', 1, { EndpointSpec: { Mode: 'dnsrr', Ports: [{ TargetPort: 80, PublishedPort: 18091 }] } });
    await expectRefusedWithoutChange(t, () => t.request('POST', '/v1.41/services/create', refused), 400, /^EndpointSpec: port published with ingress mode can't be used with dnsrr mode$/);
  });

  it('says when the pool has no subnet left', async () => {
    const small = await createTestApp({ initialize: false });
    try {
      const init = await small.request('POST', '/v1.41/swarm/init', { DefaultAddrPool: ['10.9.0.0/23'], SubnetSize: 24 });
      expect(init.status).toBe(200);
      await json(await small.request('POST', '/v1.41/networks/create', overlay('one')), 201);
      await expectRefusedWithoutChange(small, () => small.request('POST', '/v1.41/networks/create', overlay('two')), 409, /^the cluster's address pool \(10\.9\.0\.0\/23\) has no free \/24 left/);
    } finally {
      small.close();
    }
  });
});

describe('task addresses', () => {
  const app = useLeaderApp();
  beforeAll(() => joinInProcess(app(), { hostname: 'net-host' }));

  it('gives each task a distinct address when it is assigned, shown in NetworksAttachments; a full subnet leaves the rest pending', async () => {
    const t = app();
    await json(await t.request('POST', '/v1.41/networks/create', overlay('tiny', { IPAM: { Config: [{ Subnet: '10.60.0.0/29' }] } })), 201);
    await createService(t, serviceSpec('many', 6, { TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, Networks: [{ Target: 'tiny' }] } }));
    const tasks = await eventually(async () => {
      const all = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc({ service: ['many'] })}`));
      return all.filter((x) => x.Status.State === 'assigned').length === 4 && all.some((x) => x.Status.Err) ? all : undefined;
    }, 10_000);
    const addresses = tasks.flatMap((x) => x.NetworksAttachments?.flatMap((a: any) => a.Addresses) ?? []).sort();
    // .1 is the gateway, .2 the service's virtual IP and .7 the broadcast address of a /29: four task addresses.
    const [service] = await json<any[]>(await t.request('GET', `/v1.41/services?filters=${enc({ name: ['many'] })}`));
    expect(service.Endpoint.VirtualIPs).toEqual([{ NetworkID: service.Spec.TaskTemplate.Networks[0].Target, Addr: '10.60.0.2/29' }]);
    expect(addresses).toEqual(['10.60.0.3/29', '10.60.0.4/29', '10.60.0.5/29', '10.60.0.6/29']);
    expect(tasks.find((x) => x.NetworksAttachments)?.NetworksAttachments[0].Network.Spec).toMatchObject({ Name: 'tiny', Scope: 'swarm' });
    expect(tasks.find((x) => x.Status.Err)?.Status.Err).toBe('no free address left in network tiny (10.60.0.0/29)');
  });
});

describe('virtual IPs', () => {
  const app = useLeaderApp();
  beforeAll(() => joinInProcess(app(), { hostname: 'vip-host' }));
  const inspect = async (name: string) => json<any>(await app().request('GET', `/v1.41/services/${name}`));
  const onNetworks = (names: string[], extra: Record<string, unknown> = {}) => ({
    TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, Networks: names.map((Target) => ({ Target })) },
    ...extra,
  });

  it('gives a service one per network, ingress first when it publishes a port, never a task\'s, and keeps them across updates', async () => {
    const t = app();
    await json(await t.request('POST', '/v1.41/networks/create', overlay('vips-a', { IPAM: { Config: [{ Subnet: '10.61.0.0/24' }] } })), 201);
    await json(await t.request('POST', '/v1.41/networks/create', overlay('vips-b', { IPAM: { Config: [{ Subnet: '10.62.0.0/24' }] } })), 201);
    const ports = { EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 18090 }] } };
    await createService(t, serviceSpec('vip-web', 2, onNetworks(['vips-a'], ports)));
    const [ingress] = await json<any[]>(await t.request('GET', `/v1.41/networks?filters=${enc({ name: ['ingress'] })}`));
    const a = await inspect('vip-web');
    expect(a.Endpoint.VirtualIPs).toEqual([
      { NetworkID: ingress.Id, Addr: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+\/\d+$/) },
      { NetworkID: a.Spec.TaskTemplate.Networks[0].Target, Addr: '10.61.0.2/24' },
    ]);
    const taskAddresses = await eventually(async () => {
      const all = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${enc({ service: ['vip-web'] })}`));
      const held = all.flatMap((x) => x.NetworksAttachments?.flatMap((n: any) => n.Addresses) ?? []);
      return held.length === 4 ? held : undefined;
    }, 10_000);
    for (const vip of a.Endpoint.VirtualIPs) expect(taskAddresses).not.toContain(vip.Addr);

    // Another network added: its VIP is new, the others stay as they were.
    const spec = { ...a.Spec, TaskTemplate: { ...a.Spec.TaskTemplate, Networks: [...a.Spec.TaskTemplate.Networks, { Target: 'vips-b' }] } };
    await json(await t.request('POST', `/v1.41/services/${a.ID}/update?version=${a.Version.Index}`, spec), 200);
    const b = await inspect('vip-web');
    expect(b.Endpoint.VirtualIPs.slice(0, 2)).toEqual(a.Endpoint.VirtualIPs);
    expect(b.Endpoint.VirtualIPs[2]).toMatchObject({ Addr: '10.62.0.2/24' });
  });

  it('gives none in dnsrr mode', async () => {
    const t = app();
    await json(await t.request('POST', '/v1.41/networks/create', overlay('vips-rr')), 201);
    await createService(t, serviceSpec('rr', 1, onNetworks(['vips-rr'], { EndpointSpec: { Mode: 'dnsrr' } })));
    expect((await inspect('rr')).Endpoint.VirtualIPs).toBeUndefined();
  });
});
