import { expect } from 'vitest';
import { type CliResult, docker, eventually } from '../harness/docker-cli.ts';

/** `docker swarm init` against a control plane with no swarm yet: it succeeds as a manager. */
export async function expectSwarmInit(env: Record<string, string>): Promise<CliResult> {
  const init = await docker(['swarm', 'init'], env);
  expect(init).toMatchObject({ code: 0 });
  expect(init.stdout).toMatch(/Swarm initialized: current node \(\w+\) is now a manager/);
  return init;
}

/**
 * `docker service create --replicas 2 --name w` on a swarm with no agents, then `service ls`
 * (0/2) and `service ps` until the leader has created both tasks, pending for want of a node.
 * Returns the service's ID.
 */
export async function expectPendingService(env: Record<string, string>): Promise<string> {
  const create = await docker(['service', 'create', '--detach', '--replicas', '2', '--name', 'w', 'local/busybox:1', 'sleep', '60'], env);
  expect(create.stderr).not.toMatch(/error/i);
  expect(create).toMatchObject({ code: 0 });
  const serviceId = create.stdout.trim();
  expect(serviceId).toMatch(/^[a-z0-9]{25}$/);

  const ls = await docker(['service', 'ls'], env);
  expect(ls.code).toBe(0);
  expect(ls.stdout).toMatch(new RegExp(`^${serviceId.slice(0, 12)}\\s+w\\s+replicated\\s+0/2\\s+local/busybox:1\\s*$`, 'm'));

  // With no agents the tasks stay pending.
  const pending = /local\/busybox:1\s+Running\s+Pending .* ago\s+"no suitable node/;
  let last = '';
  const ps = await eventually(async () => {
    const r = await docker(['service', 'ps', 'w', '--no-trunc'], env);
    last = r.stdout + r.stderr;
    const lines = r.stdout.trim().split('\n').slice(1);
    return r.code === 0 && lines.length === 2 && lines.every((l) => pending.test(l)) ? lines : undefined;
  }, 20_000).catch((err: Error) => Promise.reject(new Error(`${err.message}; last docker service ps:\n${last}`)));
  expect(ps.map((l) => l.split(/\s+/)[1]).sort()).toEqual(['w.1', 'w.2']);
  return serviceId;
}
