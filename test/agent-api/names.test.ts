import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { networkRecords, virtualIpBackends } from '../../control-plane/agent-api/names.ts';
import { eventually } from '../harness/docker-cli.ts';
import { createTestApp, type InProcessNode, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';
import { json } from '../docker-api/helpers.ts';

/**
 * The names view in each node's assignments: what containers on each of its overlay networks
 * resolve, from the running tasks of the whole cluster, and an index that rises when it changes.
 */
describe('the names in the assignments', () => {
  let t: TestApp;
  let leader: LeaderLoop;
  const nodes: Record<string, InProcessNode> = {};
  const netId: Record<string, string> = {};
  beforeAll(async () => {
    t = await createTestApp({ env: { TASK_DRAIN_MS: '60000' } });
    leader = new LeaderLoop(t.deps);
    leader.start();
    for (const name of ['a', 'b', 'c', 'idle']) nodes[name] = await joinInProcess(t, { hostname: `names-${name}` });
    for (const name of ['front', 'back']) {
      await json(await t.request('POST', '/v1.41/networks/create', { Name: name, Driver: 'overlay' }), 201);
      netId[name] = (await json(await t.request('GET', `/v1.41/networks/${name}`))).Id;
    }
  });
  afterAll(async () => {
    await leader.stop();
    t.close();
  });

  const pinned = (name: string, host: string, network: string, extra: { aliases?: string[]; hostname?: string; mode?: string; replicas?: number } = {}) =>
    serviceSpec(name, extra.replicas ?? 1, {
      TaskTemplate: {
        ContainerSpec: { Image: 'local/busybox:1', ...(extra.hostname ? { Hostname: extra.hostname } : {}) },
        Placement: { Constraints: [`node.hostname==${host}`] },
        Networks: [{ Target: network, Aliases: extra.aliases ?? [] }],
      },
      ...(extra.mode ? { EndpointSpec: { Mode: extra.mode } } : {}),
    });
  const assignments = async (n: string) => json(await nodes[n]!.agentRequest('GET', '/assignments?index=0'));
  /** The node's tasks of a service that it still runs. */
  const liveTasks = async (n: string, service: string) =>
    (await assignments(n)).tasks.filter((x: any) => x.serviceName === service && x.desiredState === 'running');
  const addressOf = (task: any) => task.networks[0].address.split('/')[0];
  /** Reports every live task of the service on the node as running; answers their addresses. */
  async function runAll(n: string, service: string, count: number): Promise<string[]> {
    const list = await eventually(async () => {
      const l = await liveTasks(n, service);
      return l.length === count ? l : undefined;
    }, 10_000);
    for (const task of list) expect((await nodes[n]!.report(task.taskId, 'running')).ok).toBe(true);
    return list.map(addressOf);
  }
  const recordsOn = async (n: string, network: string) => (await assignments(n)).names.find((x: any) => x.networkId === netId[network])?.records;

  it('answers service, tasks.service, aliases, hostnames and container names from running tasks on every node', async () => {
    await json(await t.request('POST', '/v1.41/services/create', pinned('api', 'names-a', 'front', { aliases: ['API-Alias'], hostname: '{{.Node.Hostname}}-api' })), 201);
    await json(await t.request('POST', '/v1.41/services/create', pinned('web', 'names-b', 'front', { mode: 'dnsrr' })), 201);
    await json(await t.request('POST', '/v1.41/services/create', pinned('db', 'names-c', 'back')), 201);
    const api = await runAll('a', 'api', 1);
    const web = await runAll('b', 'web', 1);
    await runAll('c', 'db', 1);
    const [apiTask] = await liveTasks('a', 'api');
    const records = await recordsOn('b', 'front');
    // A vip service's name is its virtual IP on the network; a dnsrr one's, its tasks.
    const [vip] = (await json(await t.request('GET', '/v1.41/services/api'))).Endpoint.VirtualIPs;
    expect(vip.NetworkID).toBe(netId.front);
    expect(records).toEqual({
      api: [vip.Addr.split('/')[0]],
      'tasks.api': api,
      'api-alias': api,
      'names-a-api': api,
      [`api.1.${apiTask.taskId}`]: api,
      web: web,
      'tasks.web': web,
      [`web.1.${(await liveTasks('b', 'web'))[0].taskId}`]: web,
    });
    // The same view on A (a node is one of the answers too); C is only on back, and sees db alone there.
    expect(await recordsOn('a', 'front')).toEqual(records);
    const c = await assignments('c');
    expect(c.names.map((x: any) => x.networkId)).toEqual([netId.back]);
    expect(Object.keys(c.names[0].records).filter((k) => !k.startsWith('db.1.'))).toEqual(['db', 'tasks.db']);
  });

  it('gives a node without overlay tasks no names, and does not raise its index when names change', async () => {
    await json(await t.request('POST', '/v1.41/services/create', pinned('api2', 'names-a', 'front')), 201);
    const [task] = await eventually(async () => {
      const l = await liveTasks('a', 'api2');
      return l.length === 1 ? l : undefined;
    }, 10_000);
    // (Giving the task its address changed the mesh, which every node's index follows; starting it does not.)
    const idle = await assignments('idle');
    expect(idle.names).toEqual([]);
    expect((await nodes.a!.report(task.taskId, 'running')).ok).toBe(true);
    await eventually(async () => (await recordsOn('b', 'front'))?.['tasks.api2'], 10_000);
    expect((await assignments('idle')).index).toBe(idle.index);
  });

  it('counts only running tasks: one that is starting or has failed is not an answer', async () => {
    const spec = pinned('slow', 'names-a', 'front', { replicas: 2 });
    await json(await t.request('POST', '/v1.41/services/create', spec), 201);
    const [first, second] = await eventually(async () => {
      const l = await liveTasks('a', 'slow');
      return l.length === 2 ? l : undefined;
    }, 10_000);
    expect((await nodes.a!.report(first.taskId, 'starting')).ok).toBe(true);
    expect((await nodes.a!.report(second.taskId, 'running')).ok).toBe(true);
    expect((await recordsOn('b', 'front'))?.['tasks.slow']).toEqual([addressOf(second)]);
    // A health check keeps a task starting until healthy; unhealthy fails it.
    expect((await nodes.a!.report(second.taskId, 'failed')).ok).toBe(true);
    expect((await recordsOn('b', 'front'))?.['tasks.slow']).toBeUndefined();
  });

  it('wakes the other nodes on the network within a second of a task starting, with a higher index', async () => {
    const before = await assignments('b');
    await json(await t.request('POST', '/v1.41/services/create', pinned('late', 'names-a', 'front')), 201);
    const [task] = await eventually(async () => {
      const l = await liveTasks('a', 'late');
      return l.length === 1 ? l : undefined;
    }, 10_000);
    const index = (await assignments('b')).index;
    const started = Date.now();
    const woken = nodes.b!.agentRequest('GET', `/assignments?index=${index}&wait=10s`);
    expect((await nodes.a!.report(task.taskId, 'running')).ok).toBe(true);
    const after = await json(await woken);
    const ms = Date.now() - started;
    expect(after.index).toBeGreaterThan(index);
    expect(after.index).toBeGreaterThan(before.index);
    expect(after.names.find((x: any) => x.networkId === netId.front).records['tasks.late']).toEqual([addressOf(task)]);
    expect(ms).toBeLessThan(1_000);
  });

  it('drops a task from the names as soon as it is no longer wanted, before its node reports it stopped', async () => {
    await json(await t.request('POST', '/v1.41/services/create', pinned('scaled', 'names-a', 'front', { replicas: 2 })), 201);
    const both = await runAll('a', 'scaled', 2);
    expect((await recordsOn('b', 'front'))?.['tasks.scaled']).toEqual([...both].sort());
    /** B's next answer after `change`, by its long-poll (so its index must have risen), and how long it took. */
    const bAfter = async (change: () => Promise<unknown>) => {
      const { index } = await assignments('b');
      const started = Date.now();
      const next = nodes.b!.agentRequest('GET', `/assignments?index=${index}&wait=5s`);
      await change();
      const body = await json(await next);
      return { index: body.index > index, ms: Date.now() - started, tasks: body.names.find((x: any) => x.networkId === netId.front).records['tasks.scaled'] };
    };
    const current = await json(await t.request('GET', '/v1.41/services/scaled'));
    const scaled = await bAfter(() => t.request('POST', `/v1.41/services/scaled/update?version=${current.Version.Index}`, { ...current.Spec, Mode: { Replicated: { Replicas: 1 } } }));
    expect(scaled.index).toBe(true);
    expect(scaled.tasks).toHaveLength(1);
    expect(both).toContain(scaled.tasks[0]);
    expect(scaled.ms).toBeLessThan(2_000);
    // Its node is told to drain the stopping task (still running) for what is left of the period.
    const stopping = (await assignments('a')).tasks.find((x: any) => x.serviceName === 'scaled' && x.desiredState !== 'running');
    expect(stopping.drainMs).toBeGreaterThan(0);
    expect(stopping.drainMs).toBeLessThanOrEqual(t.deps.config.taskDrainMs);
    expect((await liveTasks('a', 'scaled'))[0].drainMs).toBeUndefined();
    // It may stop early, once every ready node with a task on its network (A and B; not C, only on
    // back, nor the idle node) has applied an answer past the one that took it out.
    const drained = async (n: string) => (await json(await nodes[n]!.agentRequest('GET', `/drains?task=${stopping.taskId}`))).drained;
    const apply = async (n: string) => {
      const { index } = await assignments(n);
      expect((await json(await nodes[n]!.agentRequest('POST', '/status', { reports: [], appliedIndex: index }))).results).toEqual([]);
    };
    expect(await drained('a')).toEqual([]);
    await apply('a');
    expect(await drained('a')).toEqual([]);
    await apply('b');
    expect(await drained('a')).toEqual([stopping.taskId]);
    // Another node's task is never its business; a bad question is a 400.
    expect(await drained('b')).toEqual([]);
    expect((await nodes.a!.agentRequest('GET', '/drains')).status).toBe(400);
    expect((await nodes.a!.agentRequest('POST', '/status', { reports: [], appliedIndex: -1 })).status).toBe(400);
    // Removing the service takes its names away at once too.
    const removed = await bAfter(() => t.request('DELETE', '/v1.41/services/scaled'));
    expect(removed).toMatchObject({ index: true, tasks: undefined });
    expect(removed.ms).toBeLessThan(2_000);
  });
});

describe('the records of one network', () => {
  const task = (over: Partial<Parameters<typeof networkRecords>[1][number]>) => ({
    id: 't1',
    serviceId: 's1',
    serviceName: 'api',
    endpointMode: 'vip' as const,
    slot: 1,
    nodeId: 'n1',
    hostname: undefined,
    networks: [{ networkId: 'front', address: '10.0.1.5/24' }],
    aliases: new Map<string, string[]>(),
    ...over,
  });

  it('lets a service name hide an alias, hostname or container name of the same spelling', () => {
    const records = networkRecords('front', [
      task({ endpointMode: 'dnsrr' }),
      task({ id: 't2', serviceId: 's2', serviceName: 'web', endpointMode: 'dnsrr', networks: [{ networkId: 'front', address: '10.0.1.9/24' }], aliases: new Map([['front', ['API']]]), hostname: 'Api' }),
    ]);
    expect(records.api).toEqual(['10.0.1.5']);
    expect(records.web).toEqual(['10.0.1.9']);
  });

  it('answers a vip service\'s name with its virtual IP on the network, with or without running tasks', () => {
    const vips = [
      { serviceId: 's1', serviceName: 'api', networkId: 'front', addr: '10.0.1.2' },
      { serviceId: 's9', serviceName: 'idle', networkId: 'front', addr: '10.0.1.3' },
      { serviceId: 's1', serviceName: 'api', networkId: 'back', addr: '10.0.2.2' },
    ];
    const running = [task({}), task({ id: 't2', networks: [{ networkId: 'front', address: '10.0.1.10/24' }, { networkId: 'back', address: '10.0.2.7/24' }] })];
    const records = networkRecords('front', running, vips);
    expect(records.api).toEqual(['10.0.1.2']);
    expect(records['tasks.api']).toEqual(['10.0.1.5', '10.0.1.10']);
    expect(records.idle).toEqual(['10.0.1.3']);
    expect(records['tasks.idle']).toBeUndefined();
    // Each VIP with its service's running tasks on that network behind it; none for an idle one.
    expect(virtualIpBackends('front', running, vips)).toEqual([
      { address: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.10'] },
      { address: '10.0.1.3', backends: [] },
    ]);
    expect(virtualIpBackends('back', running, vips)).toEqual([{ address: '10.0.2.2', backends: ['10.0.2.7'] }]);
  });

  it('answers a global task\'s container name with its node, and sorts addresses numerically', () => {
    const records = networkRecords('front', [
      task({ slot: 0, networks: [{ networkId: 'front', address: '10.0.1.10/24' }] }),
      task({ id: 't2', slot: 0, nodeId: 'n2', networks: [{ networkId: 'front', address: '10.0.1.9/24' }] }),
    ]);
    expect(records['tasks.api']).toEqual(['10.0.1.9', '10.0.1.10']);
    expect(records['api.n1.t1']).toEqual(['10.0.1.10']);
  });

  it('has nothing of tasks on other networks', () => {
    expect(networkRecords('back', [task({})])).toEqual({});
  });
});
