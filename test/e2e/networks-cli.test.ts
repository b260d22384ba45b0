import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliSession, startCliSession, table } from './cli-session.ts';

/** Overlay networks through the real CLI: create, ls, inspect, a service on one, rm. */
let s: CliSession;
beforeAll(async () => {
  s = await startCliSession();
  await s.ok('swarm', 'init');
});
afterAll(() => s.cp.stop());

describe('docker network', () => {
  it('create -d overlay, ls with the ingress network, inspect', async () => {
    const id = (await s.ok('network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.70.0.0/24', '--label', 'team=a', 'front')).trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    const rows = table(await s.ok('network', 'ls'));
    expect(rows[0]).toEqual(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE']);
    expect(rows.slice(1).map((r) => r.slice(1)).sort()).toEqual([['front', 'overlay', 'swarm'], ['ingress', 'overlay', 'swarm']]);
    const [front] = JSON.parse(await s.ok('network', 'inspect', 'front'));
    expect(front).toMatchObject({ Id: id, Attachable: true, Labels: { team: 'a' }, IPAM: { Config: [{ Subnet: '10.70.0.0/24', Gateway: '10.70.0.1' }] } });
  });

  it('a plain `docker network create` (bridge) is refused with the fix', async () => {
    const r = await s.cli('network', 'create', 'local-net');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('network driver "bridge" is not supported: a swarm\'s networks span its hosts; use -d overlay');
  });

  it('a service on the network keeps it in use until the service is gone', async () => {
    await s.ok('service', 'create', '--detach', '--name', 'web', '--network', 'front', 'local/busybox:1', 'sleep', '100');
    const [svc] = JSON.parse(await s.ok('service', 'inspect', 'web'));
    const [front] = JSON.parse(await s.ok('network', 'inspect', 'front'));
    expect(svc.Spec.TaskTemplate.Networks).toEqual([{ Target: front.Id }]);
    const refused = await s.cli('network', 'rm', 'front');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('network front is in use by service web');
    const unknown = await s.cli('service', 'create', '--detach', '--name', 'lost', '--network', 'nope', 'local/busybox:1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/network nope not found/);
    await s.ok('service', 'rm', 'web');
    expect((await s.ok('network', 'rm', 'front')).trim()).toBe('front');
  });
});
