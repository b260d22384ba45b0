import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceSpec } from '../harness/app.ts';
import { eventually } from '../harness/docker-cli.ts';
import { type CliSession, startCliSession, table } from './cli-session.ts';

/**
 * The service lifecycle through the real CLI. No agent runs, so tasks stay pending: create, scale
 * and update use --detach (the attached progress waits for convergence).
 */
let s: CliSession;
let id: string;
beforeAll(async () => {
  s = await startCliSession();
  await s.ok('swarm', 'init');
});
afterAll(() => s.cp.stop());

/** What `docker service create --replicas 3 --name web -p 8080:80 local/busybox:1 httpd -f -p 80` posts. */
const PORTS = [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }];
const POSTED = serviceSpec('web', 3, { EndpointSpec: { Mode: 'vip', Ports: PORTS } });
const UPDATE_DEFAULTS = { Parallelism: 1, FailureAction: 'pause', Monitor: 5_000_000_000, MaxFailureRatio: 0, Order: 'stop-first' };

const inspect = async (ref = 'web') => JSON.parse(await s.ok('service', 'inspect', ref))[0];
const psRows = async () => table(await s.ok('service', 'ps', 'web')).slice(1);

describe('docker service create', () => {
  it('--detach prints the 25-character ID and nothing on stderr', async () => {
    const r = await s.cli('service', 'create', '--detach', '--replicas', '3', '--name', 'web', '-p', '8080:80', 'local/busybox:1', 'httpd', '-f', '-p', '80');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-z]{25}\n$/);
    expect(r.stderr).toBe('');
    id = r.stdout.trim();
  });
});

describe('reading it back', () => {
  it('docker service ls: web, replicated, 0/3 (no agents), *:8080->80/tcp', async () => {
    const rows = table(await s.ok('service', 'ls'));
    expect(rows).toEqual([
      ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'],
      [id.slice(0, 12), 'web', 'replicated', '0/3', 'local/busybox:1', '*:8080->80/tcp'],
    ]);
  });

  it('docker service inspect web: the spec as posted plus dockerd\'s defaults', async () => {
    const service = await inspect();
    expect(service.ID).toBe(id);
    expect(service.Spec).toEqual({
      ...POSTED,
      TaskTemplate: {
        ...POSTED.TaskTemplate,
        ContainerSpec: { ...POSTED.TaskTemplate.ContainerSpec, StopGracePeriod: 10_000_000_000 },
        RestartPolicy: { Condition: 'any', Delay: 5_000_000_000, MaxAttempts: 0 },
      },
      UpdateConfig: UPDATE_DEFAULTS,
      RollbackConfig: UPDATE_DEFAULTS,
    });
    expect(service.Endpoint.Ports).toEqual(PORTS);
    expect(service.PreviousSpec).toBeUndefined();
    // By ID and unique prefix too.
    expect((await inspect(id)).ID).toBe(id);
    expect((await inspect(id.slice(0, 6))).ID).toBe(id);
  });

  it('docker service inspect --pretty web', async () => {
    const out = await s.ok('service', 'inspect', '--pretty', 'web');
    expect(out).toMatch(new RegExp(`^ID:\\t\\t${id}$`, 'm'));
    expect(out).toMatch(/^Name:\t\tweb$/m);
    expect(out).toMatch(/^Service Mode:\tReplicated$/m);
    expect(out).toMatch(/^ Replicas:\t3$/m);
    expect(out).toMatch(/^ Image:\t\tlocal\/busybox:1$/m);
    expect(out).toMatch(/^ Args:\t\thttpd -f -p 80 ?$/m);
    expect(out).toMatch(/^ PublishedPort = 8080$/m);
  });

  it('docker service ps web: web.1..3 Pending, with the scheduler\'s "no suitable node" error', async () => {
    const rows = await eventually(async () => {
      const r = await psRows();
      return r.length === 3 && r.every((row) => row.some((cell) => cell.includes('no suitable node'))) && r;
    }, 15_000);
    expect(rows.map((r) => r[1])).toEqual(['web.1', 'web.2', 'web.3']);
    for (const row of rows) {
      expect(row[0]).toMatch(/^[0-9a-z]{12}$/);
      expect(row[2]).toBe('local/busybox:1');
      expect(row[3]).toBe('Running'); // desired state; NODE is empty
      expect(row[4]).toMatch(/^Pending /);
      expect(row[5]).toMatch(/^"no suitable node/);
    }
  });
});

describe('changing it', () => {
  it('docker service scale web=5 --detach: "web scaled to 5", and 5 tasks', async () => {
    const r = await s.cli('service', 'scale', 'web=5', '--detach');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('web scaled to 5\n');
    const rows = await psRows();
    expect(rows.map((row) => row[1])).toEqual(['web.1', 'web.2', 'web.3', 'web.4', 'web.5']);
    expect(table(await s.ok('service', 'ls'))[1]![3]).toBe('0/5');
  });

  it('docker service update --detach --image local/busybox:1 --env-add A=1 web: Env set, PreviousSpec kept', async () => {
    const before = await inspect();
    const r = await s.cli('service', 'update', '--detach', '--image', 'local/busybox:1', '--env-add', 'A=1', 'web');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('web\n');
    const after = await inspect();
    expect(after.Spec.TaskTemplate.ContainerSpec.Env).toEqual(['A=1']);
    expect(after.Spec.Mode).toEqual({ Replicated: { Replicas: 5 } });
    expect(after.PreviousSpec.TaskTemplate.ContainerSpec.Env).toBeUndefined();
    expect(after.PreviousSpec.Mode).toEqual({ Replicated: { Replicas: 5 } });
    expect(after.Version.Index).toBeGreaterThan(before.Version.Index);
    expect(after.UpdateStatus.State).toBe('updating');
  });

  it('docker service rollback --detach web: back to the spec without Env', async () => {
    const r = await s.cli('service', 'rollback', '--detach', 'web');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('web\n');
    const after = await inspect();
    expect(after.Spec.TaskTemplate.ContainerSpec.Env).toBeUndefined();
    expect(after.PreviousSpec.TaskTemplate.ContainerSpec.Env).toEqual(['A=1']);
    expect(after.UpdateStatus.State).toMatch(/^rollback_/);
  });

  it('docker service rm web: gone, and service ls is empty', async () => {
    const r = await s.cli('service', 'rm', 'web');
    expect(r).toMatchObject({ code: 0, stdout: 'web\n' });
    expect(table(await s.ok('service', 'ls'))).toEqual([['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS']]);
    const gone = await s.cli('service', 'inspect', 'web');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no such service: web');
  });
});
