/**
 * The real agent against the real control plane and the real Docker engine: join with the token
 * `docker swarm join-token` prints, then drive services with the real docker CLI and check what
 * the engine runs.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { freePort, httpGet } from '../harness/net.ts';

const cluster = useAgentCluster('agent-e2e');
const { run: RUN, hostname, engine } = cluster;

/** This node's task containers of one service, as the engine sees them. */
async function containers(service: string, opts: { all?: boolean } = {}) {
  return engine.listContainers({
    all: opts.all ?? false,
    filters: { label: [`swarmlet.node.id=${cluster.nodeId}`, `swarmlet.service.name=${service}`] },
  });
}

async function exactlyRunning(service: string, n: number, timeoutMs = 30_000) {
  return eventually(async () => {
    const all = await containers(service, { all: true });
    const running = all.filter((c) => c.State === 'running');
    return running.length === n && all.length === n ? running : undefined;
  }, timeoutMs);
}

interface TaskRow {
  ID: string;
  Name: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
}

async function tasks(service: string): Promise<TaskRow[]> {
  const res = await docker(['service', 'ps', '--no-trunc', '--format', '{{json .}}', service], cluster.env);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TaskRow);
}

async function inspectTask(id: string) {
  const res = await docker(['inspect', '--type', 'task', id], cluster.env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout)[0];
}

describe('swarm-agent end to end', () => {
  it('joins with the worker token and keeps its identity in a private state directory', async () => {
    const nodes = await docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}}'], cluster.env);
    expect(nodes.stdout).toContain(`${hostname} Ready Active`);
    expect(statSync(cluster.stateDir).mode & 0o777).toBe(0o700);
    for (const f of ['node.json', 'wireguard.key']) expect(statSync(join(cluster.stateDir, f)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(join(cluster.stateDir, 'node.json'), 'utf8'));
    expect(saved.nodeId).toBe(cluster.nodeId);
    // The WireGuard private key stays here: 32 raw bytes, base64 as `wg` writes them.
    expect(Buffer.from(readFileSync(join(cluster.stateDir, 'wireguard.key'), 'utf8').trim(), 'base64')).toHaveLength(32);
  });

  it('runs 3 replicas (detached create) as 3 labelled containers; service ls shows 3/3', async () => {
    const name = `s${RUN}-detached`;
    await cluster.createService(name, ['--replicas', '3', 'local/busybox:1', 'sleep', '3600']);
    const running = await exactlyRunning(name, 3);
    const slots = running.map((c) => c.Labels['swarmlet.slot']).sort();
    expect(slots).toEqual(['1', '2', '3']);
    for (const c of running) {
      expect(c.Labels['com.docker.swarm.service.name']).toBe(name);
      expect(c.Labels['swarmlet.task.id']).toBe(c.Labels['com.docker.swarm.task.id']);
      expect(c.Names[0]).toBe(`/${name}.${c.Labels['swarmlet.slot']}.${c.Labels['swarmlet.task.id']}`);
      expect(c.Command).toBe('sleep 3600');
    }
    const inspected = await engine.getContainer(running[0]!.Id).inspect();
    expect(inspected.HostConfig.Init).toBe(true);
    expect(inspected.HostConfig.RestartPolicy?.Name).toBe('no');
    await eventually(async () => (await docker(['service', 'ls', '--filter', `name=${name}`, '--format', '{{.Replicas}}'], cluster.env)).stdout.trim() === '3/3');
  });

  it('attached service create shows progress until it prints "converged"', async () => {
    const name = `s${RUN}-attached`;
    const started = Date.now();
    const res = await cluster.createService(name, ['--replicas', '3', 'local/busybox:1', 'sleep', '3600'], { detach: false });
    expect(res.stdout + res.stderr).toMatch(/converged/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
    await exactlyRunning(name, 3, 5_000);
  });

  it('service create without --replicas, attached: one replica, converged, exit 0, service ls 1/1', async () => {
    const name = `s${RUN}-solo`;
    const res = await cluster.createService(name, ['local/busybox:1', 'sleep', '3600'], { detach: false });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout + res.stderr).toMatch(/converged/);
    await exactlyRunning(name, 1, 5_000);
    const ls = await docker(['service', 'ls', '--filter', `name=${name}`, '--format', '{{.Mode}} {{.Replicas}}'], cluster.env);
    expect(ls.stdout.trim()).toBe('replicated 1/1');
    // Both the spec and the previous spec carry the count, so a rollback reads as a mode the CLI knows.
    expect((await docker(['service', 'update', '--detach', '--env-add', 'A=1', name], cluster.env)).code).toBe(0);
    const rollback = await docker(['service', 'rollback', '--detach', name], cluster.env);
    expect(rollback, rollback.stderr).toMatchObject({ code: 0 });
  });

  it('runs a service named as docker stack deploy names them (stack_service)', async () => {
    const name = `app${RUN}_web`;
    await cluster.createService(name, ['--replicas', '2', 'local/busybox:1', 'sleep', '3600']);
    const running = await exactlyRunning(name, 2);
    expect(running.map((c) => c.Names[0]).sort()).toEqual([expect.stringMatching(new RegExp(`^/${name}\\.1\\.`)), expect.stringMatching(new RegExp(`^/${name}\\.2\\.`))]);
  });

  it('expands hostname and env templates per task, as dockerd\'s worker does', async () => {
    const name = `s${RUN}-tmpl`;
    await cluster.createService(name, ['--replicas', '2', '--hostname', '{{.Node.Hostname}}-{{.Task.Slot}}', '--env', 'WHO={{.Service.Name}}.{{.Task.Slot}}', 'local/busybox:1', 'sleep', '3600']);
    const running = await exactlyRunning(name, 2);
    const seen = await Promise.all(running.map(async (c) => (await engine.getContainer(c.Id).inspect()).Config));
    expect(seen.map((cfg) => cfg.Hostname).sort()).toEqual([`${hostname}-1`, `${hostname}-2`]);
    expect(seen.map((cfg) => cfg.Env.find((e: string) => e.startsWith('WHO='))).sort()).toEqual([`WHO=${name}.1`, `WHO=${name}.2`]);
  });

  it('scales 3 → 5 → 1 with exactly that many containers', async () => {
    const name = `s${RUN}-scale`;
    await cluster.createService(name, ['--replicas', '3', 'local/busybox:1', 'sleep', '3600']);
    await exactlyRunning(name, 3);
    expect((await docker(['service', 'scale', '--detach', `${name}=5`], cluster.env)).code).toBe(0);
    await exactlyRunning(name, 5);
    expect((await docker(['service', 'scale', '--detach', `${name}=1`], cluster.env)).code).toBe(0);
    const [last] = await exactlyRunning(name, 1);
    expect(last!.Labels['swarmlet.slot']).toBe('1');
  });

  it('service update --env-add replaces the containers with the new environment', async () => {
    const name = `s${RUN}-update`;
    await cluster.createService(name, ['--replicas', '2', 'local/busybox:1', 'sleep', '3600']);
    const before = (await exactlyRunning(name, 2)).map((c) => c.Id);
    expect((await docker(['service', 'update', '--detach', '--env-add', 'A=1', name], cluster.env)).code).toBe(0);
    const after = await eventually(async () => {
      const running = await exactlyRunning(name, 2, 2_000).catch(() => undefined);
      if (!running || running.some((c) => before.includes(c.Id))) return undefined;
      const envs = await Promise.all(running.map(async (c) => (await engine.getContainer(c.Id).inspect()).Config.Env));
      return envs.every((e) => e.includes('A=1')) ? running : undefined;
    }, 45_000);
    expect(after).toHaveLength(2);
  });

  it('service rm leaves no container behind', async () => {
    const name = `s${RUN}-rm`;
    await cluster.createService(name, ['--replicas', '2', 'local/busybox:1', 'sleep', '3600']);
    await exactlyRunning(name, 2);
    const started = Date.now();
    expect((await docker(['service', 'rm', name], cluster.env)).code).toBe(0);
    await eventually(async () => (await containers(name, { all: true })).length === 0, 15_000);
    // An init as PID 1 makes `sleep` stop on SIGTERM instead of after the 10 s grace period.
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('restarts a crashing task per its restart policy and records the exit code', async () => {
    const name = `s${RUN}-crash`;
    await cluster.createService(name, [
      '--restart-condition', 'on-failure', '--restart-max-attempts', '2', '--restart-delay', '1s',
      'local/busybox:1', 'sh', '-c', 'exit 3',
    ]);
    const failed = await eventually(async () => {
      const list = await tasks(name);
      // Two restarts after the first run: three attempts, as Docker makes them.
      return list.length >= 3 && list.every((t) => t.CurrentState.startsWith('Failed')) ? list : undefined;
    }, 30_000);
    for (const t of failed) expect(t.Error).toContain('task: non-zero exit (3)');
    const detail = await inspectTask(failed[0]!.ID);
    expect(detail.Status.ContainerStatus.ExitCode).toBe(3);
    expect(detail.Status.Err).toBe('task: non-zero exit (3)');
    // The policy allows no more: well past the restart delay, still exactly these attempts.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await tasks(name)).toHaveLength(3);
  });

  it('publishes a host-mode port from the task container itself', async () => {
    const name = `s${RUN}-hostport`;
    const port = await freePort();
    await cluster.createService(name, ['--publish', `mode=host,published=${port},target=80`, 'local/busybox:1', 'httpd', '-f', '-p', '80', '-h', '/www']);
    const [c] = await exactlyRunning(name, 1);
    expect(c!.Ports.some((p) => p.PublicPort === port && p.PrivatePort === 80)).toBe(true);
    const body = await eventually(() => httpGet(`http://127.0.0.1:${port}/`), 15_000);
    expect(body).toContain('swarmlet test');
  });

  it('reports running only once healthy, and fails an unhealthy container', async () => {
    const name = `s${RUN}-health`;
    await cluster.createService(name, [
      '--health-cmd', 'test -f /tmp/healthy', '--health-interval', '1s', '--health-retries', '1', '--health-start-period', '30s',
      '--restart-condition', 'none',
      'local/busybox:1', 'sh', '-c', 'sleep 3; touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 3600',
    ]);
    const [c] = await exactlyRunning(name, 1);
    // The container runs but is not healthy yet: the task is starting, not running.
    const early = await engine.getContainer(c!.Id).inspect();
    expect(early.State.Health?.Status).toBe('starting');
    expect((await tasks(name))[0]!.CurrentState).toMatch(/^(Starting|Preparing)/);
    await eventually(async () => (await tasks(name))[0]!.CurrentState.startsWith('Running'), 15_000);
    expect((await engine.getContainer(c!.Id).inspect()).State.Health?.Status).toBe('healthy');
    const failed = await eventually(async () => {
      const [t] = await tasks(name);
      return t!.CurrentState.startsWith('Failed') ? t : undefined;
    }, 20_000);
    expect(failed!.Error).toContain('task: container unhealthy');
    // Stopped at once; once the control plane lets the task go, its container is removed too.
    await eventually(async () => {
      const state = await engine.getContainer(c!.Id).inspect().then((i) => i.State, () => undefined);
      return !state?.Running;
    }, 15_000);
  });

  it('after kill -9 and `swarm-agent run`, adopts the running containers without restarting them', async () => {
    const name = `s${RUN}-adopt`;
    await cluster.createService(name, ['--replicas', '3', 'local/busybox:1', 'sleep', '3600']);
    const before = (await exactlyRunning(name, 3)).map((c) => c.Id).sort();
    const tasksBefore = (await tasks(name)).map((t) => t.ID).sort();

    cluster.agent.proc.kill('SIGKILL');
    await cluster.agent.exited;
    cluster.startAgent(['run']);
    await cluster.agent.waitForOutput(/INFO agent running/);
    // Give the new agent time to converge: nothing may change.
    await new Promise((r) => setTimeout(r, 4_000));
    expect((await containers(name, { all: true })).map((c) => c.Id).sort()).toEqual(before);
    expect((await tasks(name)).map((t) => t.ID).sort()).toEqual(tasksBefore);
    expect(cluster.agent.output()).not.toMatch(/task state .*to=(preparing|starting)/);
  });

  it('reports a container that died while the agent was down as failed, and its replacement runs', async () => {
    const name = `s${RUN}-missed`;
    await cluster.createService(name, ['--replicas', '2', 'local/busybox:1', 'sleep', '3600']);
    const running = await exactlyRunning(name, 2);
    const victim = running[0]!;
    const survivor = running[1]!;

    cluster.agent.proc.kill('SIGKILL');
    await cluster.agent.exited;
    await engine.getContainer(victim.Id).kill({ signal: 'SIGKILL' });
    cluster.startAgent(['run']);
    await cluster.agent.waitForOutput(/INFO agent running/);

    const victimTask = victim.Labels['swarmlet.task.id']!;
    const detail = await eventually(async () => {
      const t = await inspectTask(victimTask);
      return t.Status.State === 'failed' ? t : undefined;
    }, 20_000);
    expect(detail.Status.Err).toBe('task: non-zero exit (137)');
    expect(detail.Status.ContainerStatus.ExitCode).toBe(137);
    const now = await exactlyRunning(name, 2, 30_000);
    expect(now.map((c) => c.Id)).toContain(survivor.Id);
    expect(now.map((c) => c.Id)).not.toContain(victim.Id);
  });

  it('stops with a clear message when the node is removed from the swarm', async () => {
    const name = `s${RUN}-revoke`;
    await cluster.createService(name, ['--replicas', '1', 'local/busybox:1', 'sleep', '3600']);
    await exactlyRunning(name, 1);
    expect((await docker(['node', 'rm', '--force', cluster.nodeId], cluster.env)).code).toBe(0);
    const exit = await Promise.race([cluster.agent.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(cluster.agent.output()).toMatch(/removed from the swarm \(node credential revoked\)/);
    expect(await containers(name, { all: true })).toHaveLength(0);
  });
});
