/**
 * `docker stack deploy` with the real docker CLI against a control plane with the real agent on
 * the real engine: a three-service compose file deploys, its keys arrive in the specs and in the
 * containers, a redeploy rolls only the service that changed, --prune and `stack rm` clean up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { freePort } from '../harness/net.ts';
import { namingASecret, missingExternalNetwork, type StackFiles, threeServices, withoutWorker, withPayloads } from './stack/compose.ts';

const cluster = useAgentCluster('stack');
const dir = mkdtempSync(join(tmpdir(), 'stack-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stack = () => `st${cluster.run}`;
const NAMESPACE = 'com.docker.stack.namespace';

function composeFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function cli(...args: string[]) {
  return docker(args, cluster.env, { timeoutMs: 120_000 });
}

async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  expect(r, `docker ${args.join(' ')}`).toMatchObject({ code: 0 });
  return r.stdout;
}

/** The engine's running containers of this stack: service name → their IDs. */
async function stackContainers(opts: { all?: boolean } = {}) {
  return cluster.engine.listContainers({ all: opts.all ?? false, filters: { label: [`${NAMESPACE}=${stack()}`, `swarmlet.node.id=${cluster.nodeId}`] } });
}

async function runningByService(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const c of await stackContainers()) (out[c.Labels['com.docker.swarm.service.name']!] ??= []).push(c.Id);
  for (const ids of Object.values(out)) ids.sort();
  return out;
}

/** Until the stack runs web ×1, api ×3 and worker ×1 (global, one node), all healthy where checked. */
async function converged(expected: Record<string, number>) {
  return eventually(async () => {
    const running = await runningByService();
    const names = Object.keys(expected).map((s) => `${stack()}_${s}`);
    const exact = Object.keys(running).length === names.length && Object.entries(expected).every(([s, n]) => running[`${stack()}_${s}`]?.length === n);
    return exact ? running : undefined;
  }, 90_000, 500);
}

let files: StackFiles;
const service = (name: string) => `${stack()}_${name}`;

async function inspectService(name: string) {
  return JSON.parse(await ok('service', 'inspect', service(name)))[0];
}

async function inspectContainer(id: string) {
  return cluster.engine.getContainer(id).inspect();
}

// Before the cluster stops (hooks run in reverse): the stack's named volume outlives its containers, as in Docker.
afterAll(async () => {
  if (files) rmSync(files.bindDir, { recursive: true, force: true });
  await Promise.all((await stackContainers({ all: true })).map((c) => cluster.engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await cluster.engine.getVolume(`${stack()}_data`).remove().catch(() => undefined);
});

describe('docker stack deploy', () => {
  let first: Record<string, string[]>;

  it('deploys a three-service compose file, waits until converged; stack ls, services and ps show it', async () => {
    files = {
      run: cluster.run,
      webPort: await freePort(),
      hostPort: await freePort(),
      bindDir: mkdtempSync(join(tmpdir(), 'stack-bind-')),
      externalNetwork: `ext${cluster.run}`,
    };
    await ok('network', 'create', '-d', 'overlay', files.externalNetwork);
    const started = Date.now();
    const deploy = await cli('stack', 'deploy', '--detach=false', '-c', composeFile('v1.yml', threeServices(files)), stack());
    expect(deploy.code, deploy.stderr).toBe(0);
    console.log(`stack deploy --detach=false returned after ${Date.now() - started} ms`);
    // It waited for each service: the containers run by the time it returns.
    expect(deploy.stdout.match(/verify: Service \w+ converged/g)).toHaveLength(3);
    first = await converged({ web: 1, api: 3, worker: 1 });

    expect(await ok('stack', 'ls', '--format', '{{.Name}} {{.Services}}')).toContain(`${stack()} 3\n`);
    const services = (await ok('stack', 'services', '--format', '{{.Name}} {{.Mode}} {{.Replicas}}', stack())).trim().split('\n').sort();
    expect(services).toEqual([`${service('api')} replicated 3/3 (max 3 per node)`, `${service('web')} replicated 1/1`, `${service('worker')} global 1/1`]);
    const tasks = (await ok('stack', 'ps', '--filter', 'desired-state=running', '--format', '{{.Name}} {{.CurrentState}}', stack())).trim().split('\n');
    expect(tasks).toHaveLength(5);
    for (const t of tasks) expect(t).toMatch(/ Running /);
  }, 240_000);

  it('puts the deploy settings into the specs and the networks', async () => {
    const api = await inspectService('api');
    expect(api.Spec.Labels).toEqual({ 'com.docker.stack.image': 'local/busybox:1', [NAMESPACE]: stack() });
    expect(api.Spec.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(api.Spec.EndpointSpec.Mode).toBe('dnsrr');
    expect(api.Spec.TaskTemplate).toMatchObject({
      Placement: { Constraints: ['node.platform.os == linux'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 3 },
      Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 << 20, Pids: 100 }, Reservations: { NanoCPUs: 1e7, MemoryBytes: 8 << 20 } },
      RestartPolicy: { Condition: 'on-failure', Delay: 1e9, MaxAttempts: 3, Window: 10e9 },
      ContainerSpec: { Healthcheck: { Test: ['CMD', 'true'], Interval: 5e9, Timeout: 20e9, Retries: 5, StartPeriod: 1e9 } },
    });
    expect(api.Spec.UpdateConfig).toMatchObject({ Parallelism: 2, Delay: 1e9, Order: 'start-first', FailureAction: 'rollback', Monitor: 1e9, MaxFailureRatio: 0.5 });
    expect(api.Spec.RollbackConfig).toMatchObject({ Parallelism: 1, Order: 'stop-first' });
    expect(api.Endpoint.VirtualIPs ?? []).toEqual([]);

    const web = await inspectService('web');
    expect(web.Spec.Labels.tier).toBe('web');
    expect(web.Spec.EndpointSpec.Ports).toEqual([{ TargetPort: 8080, PublishedPort: files.webPort, PublishMode: 'ingress' }]);
    const worker = await inspectService('worker');
    expect(worker.Spec.Mode).toEqual({ Global: {} });
    expect(worker.Spec.TaskTemplate.LogDriver).toEqual({ Name: 'json-file', Options: { 'max-size': '1m' } });
    expect(worker.Spec.TaskTemplate.ContainerSpec).toMatchObject({ DNSConfig: { Nameservers: ['9.9.9.9'], Search: ['example.internal'] }, Hosts: ['10.1.2.3 db.internal'] });

    const [front] = JSON.parse(await ok('network', 'inspect', `${stack()}_front`));
    expect(front).toMatchObject({ Driver: 'overlay', Attachable: true, Labels: { [NAMESPACE]: stack(), purpose: 'front' }, Options: { 'com.docker.network.driver.mtu': '1400' } });
    const stackNetworks = await ok('network', 'ls', '--filter', `label=${NAMESPACE}=${stack()}`, '--format', '{{.Name}}');
    expect(stackNetworks.trim().split('\n').sort()).toEqual([`${stack()}_default`, `${stack()}_front`]);
  });

  it('and into the containers the engine runs', async () => {
    const [workerId] = first[service('worker')]!;
    const w = await inspectContainer(workerId!);
    expect(w.Config).toMatchObject({ User: '1000:1000', WorkingDir: '/tmp', Hostname: 'worker-host', Tty: true, StopSignal: 'SIGINT', StopTimeout: 3, Entrypoint: ['sh', '-c'], Cmd: ['echo started; exec sleep 3600'] });
    expect(w.Config.Env).toEqual(expect.arrayContaining(['GREETING=hello', `STACK_RUN=${cluster.run}`]));
    expect(w.Config.Labels).toMatchObject({ role: 'worker', [NAMESPACE]: stack() });
    expect(w.HostConfig).toMatchObject({
      Init: true,
      ReadonlyRootfs: true,
      CapAdd: ['CAP_NET_ADMIN'],
      CapDrop: ['CAP_MKNOD'],
      Sysctls: { 'net.core.somaxconn': '1024' },
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      ExtraHosts: ['db.internal:10.1.2.3'],
      DnsSearch: ['example.internal'],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
      PortBindings: { '9000/tcp': [{ HostPort: String(files.hostPort) }] },
    });
    expect(w.Mounts.map((m) => [m.Type, m.Name ?? m.Source, m.Destination, m.RW]).sort()).toEqual([
      ['bind', files.bindDir, '/host', false],
      ['volume', `${stack()}_data`, '/data', true],
    ]);
    const a = await inspectContainer(first[service('api')]![0]!);
    expect(a.HostConfig).toMatchObject({ NanoCpus: 5e8, Memory: 64 << 20, PidsLimit: 100 });
    expect(a.Config.Healthcheck).toMatchObject({ Test: ['CMD', 'true'], Interval: 5e9 });
    // Its web tier answers on the routing mesh.
    await eventually(async () => (await fetch(`http://127.0.0.1:${files.webPort}/`).catch(() => undefined))?.status === 404, 30_000);
  });

  it('a redeploy with one changed service rolls that one only', async () => {
    const versions = Object.fromEntries(await Promise.all(['web', 'api'].map(async (s) => [s, (await inspectService(s)).Version.Index])));
    const r = await cli('stack', 'deploy', '-c', composeFile('v2.yml', threeServices(files, 'changed')), stack());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Updating service ${service('worker')}`);
    const after = await eventually(async () => {
      const now = await converged({ web: 1, api: 3, worker: 1 });
      const [id] = now[service('worker')]!;
      if (id === first[service('worker')]![0]) return undefined;
      return (await inspectContainer(id!)).Config.Env.includes('GREETING=changed') ? now : undefined;
    }, 60_000);
    // The CLI sent the unchanged specs too (a new version each), but their tasks stayed.
    const history = await ok('stack', 'ps', '--no-trunc', stack());
    for (const s of ['web', 'api']) {
      expect(after[service(s)], history).toEqual(first[service(s)]);
      const inspected = await inspectService(s);
      expect(inspected.Version.Index).toBeGreaterThan(versions[s]);
      expect(inspected.UpdateStatus).toBeUndefined();
    }
    expect((await ok('stack', 'ps', '--format', '{{.Name}}', stack())).trim().split('\n')).toHaveLength(6);
    first = after;
  }, 120_000);

  it('--prune removes the service the compose file no longer has, and leaves the rest', async () => {
    const r = await cli('stack', 'deploy', '--prune', '-c', composeFile('v3.yml', withoutWorker(files)), stack());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Removing service ${service('worker')}`);
    const now = await converged({ web: 1, api: 3 });
    expect(now[service('api')], await ok('stack', 'ps', '--no-trunc', stack())).toEqual(first[service('api')]);
    expect(await ok('stack', 'ls', '--format', '{{.Name}} {{.Services}}')).toContain(`${stack()} 2\n`);
  }, 120_000);

  it('stack rm removes its services and networks, and the engine is left with none of them', async () => {
    const networkIds = (await ok('network', 'ls', '--filter', `label=${NAMESPACE}=${stack()}`, '--format', '{{.ID}}')).trim().split('\n');
    expect(networkIds).toHaveLength(2);
    const r = await cli('stack', 'rm', stack());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Removing network ${stack()}_default`);
    expect(await ok('stack', 'ls', '--format', '{{.Name}}')).not.toContain(stack());
    expect((await ok('network', 'ls', '--filter', `label=${NAMESPACE}=${stack()}`, '-q')).trim()).toBe('');
    await eventually(async () => (await stackContainers({ all: true })).length === 0, 60_000);
    const full = await Promise.all(networkIds.map(async (id) => (JSON.parse((await cli('network', 'inspect', id)).stdout || '[]') as unknown[]).length));
    expect(full).toEqual([0, 0]);
    // Nor the engine networks that carried them on this host.
    await eventually(async () => {
      const engineNetworks = await cluster.engine.listNetworks({ filters: { label: [`swarmlet.mesh.node.id=${cluster.nodeId}`] } });
      return !engineNetworks.some((n) => networkIds.some((id) => n.Name.includes(id.slice(0, 12))));
    }, 30_000);
  }, 120_000);
});

describe('docker stack deploy with secrets and configs', () => {
  const name = () => `sp${cluster.run}`;
  const external = () => `ext${cluster.run}`;
  const SECRET = `s3cret-${Math.random().toString(36).slice(2)}`;
  const EXTERNAL = `outside-${Math.random().toString(36).slice(2)}`;
  const CONFIG = 'listen 5432\n';
  let keeper = '';

  const onEngine = async (...args: string[]) => {
    const r = await docker(args, { DOCKER_HOST: 'unix:///var/run/docker.sock' });
    expect(r, `docker ${args.join(' ')}`).toMatchObject({ code: 0 });
    return r.stdout;
  };
  const stackPayloads = async (kind: 'secret' | 'config') =>
    (await ok(kind, 'ls', '--filter', `label=${NAMESPACE}=${name()}`, '--format', '{{.Name}}')).trim().split('\n').filter(Boolean).sort();
  const deploy = () => {
    const files = { secretFile: join(dir, 'password.txt'), configFile: join(dir, 'settings.conf'), external: external() };
    writeFileSync(files.secretFile, SECRET);
    writeFileSync(files.configFile, CONFIG);
    return cli('stack', 'deploy', '--detach=false', '-c', composeFile('payloads.yml', withPayloads(files)), name());
  };
  const keeperContainer = async () => {
    const [c] = await cluster.engine.listContainers({ filters: { label: [`com.docker.swarm.service.name=${name()}_keeper`, `swarmlet.node.id=${cluster.nodeId}`] } });
    return c?.Id;
  };

  it('creates the file secrets and configs as STACK_name with the stack label, and the task gets each at its target', async () => {
    const created = await docker(['secret', 'create', external(), '-'], cluster.env, { stdin: EXTERNAL });
    expect(created.code, created.stderr).toBe(0);
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Creating secret ${name()}_password`);
    expect(await stackPayloads('secret')).toEqual([`${name()}_password`]);
    expect(await stackPayloads('config')).toEqual([`${name()}_banner`, `${name()}_settings`]);
    keeper = await eventually(keeperContainer, 60_000);
    const read = (path: string) => onEngine('exec', keeper, 'cat', path);
    const mode = (path: string) => onEngine('exec', keeper, 'busybox', 'stat', '-L', '-c', '%u %g %a', path);
    expect(await read('/run/secrets/db-password')).toBe(SECRET);
    expect(await mode('/run/secrets/db-password')).toBe('7 8 400\n');
    expect(await read(`/run/secrets/${external()}`)).toBe(EXTERNAL);
    expect(await mode(`/run/secrets/${external()}`)).toBe('0 0 444\n');
    expect(await read('/etc/keeper.conf')).toBe(CONFIG);
    expect(await mode('/etc/keeper.conf')).toBe('0 0 440\n');
    expect(await read('/banner')).toBe(CONFIG);
  }, 120_000);

  it('a second deploy of the same file keeps them and the task (the CLI posts each secret and config again)', async () => {
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(await stackPayloads('secret')).toEqual([`${name()}_password`]);
    expect(await keeperContainer()).toBe(keeper);
  }, 120_000);

  it('stack rm removes the stack\'s secrets and configs, and leaves the external secret', async () => {
    const r = await cli('stack', 'rm', name());
    expect(r.code, r.stderr).toBe(0);
    expect(await stackPayloads('secret')).toEqual([]);
    expect(await stackPayloads('config')).toEqual([]);
    expect((await ok('secret', 'ls', '--format', '{{.Name}}')).trim().split('\n')).toContain(external());
    await eventually(async () => (await keeperContainer()) === undefined, 60_000);
    await ok('secret', 'rm', external());
  }, 120_000);
});

describe('docker stack deploy, bad input', () => {
  it('a compose file naming a missing external network fails clearly and deploys nothing', async () => {
    const r = await cli('stack', 'deploy', '-c', composeFile('bad-net.yml', missingExternalNetwork), `bad${cluster.run}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/network "no-such-network" is declared as external, but could not be found/);
    expect(await ok('stack', 'ls', '--format', '{{.Name}}')).not.toContain(`bad${cluster.run}`);
    expect((await ok('network', 'ls', '--filter', `label=${NAMESPACE}=bad${cluster.run}`, '-q')).trim()).toBe('');
  });

  it('a compose file naming a missing external secret fails clearly and deploys no service', async () => {
    const r = await cli('stack', 'deploy', '-c', composeFile('secret.yml', namingASecret), `sec${cluster.run}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/secret not found: token/);
    expect(await ok('service', 'ls', '--filter', `label=${NAMESPACE}=sec${cluster.run}`, '-q')).toBe('');
  });
});
