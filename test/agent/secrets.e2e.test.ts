/**
 * Secrets and configs delivered by the real agent to containers on the real engine: files at their
 * targets with the spec's owner and mode, from a tmpfs of the task's own, changed by a rolling
 * `service update`, and gone with the task's container. The value is never on disk or in a log.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TASK_FILES_ROOT } from '../../agent/executor/task-files.ts';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { filesUnder } from '../harness/files.ts';

const cluster = useAgentCluster('secrets-e2e');
const V1 = `first-${Math.random().toString(36).slice(2)}`;
const V2 = `second-${Math.random().toString(36).slice(2)}`;
const CONFIG = 'listen 8080\n';
const engineEnv = { DOCKER_HOST: 'unix:///var/run/docker.sock' };

async function cli(args: string[], stdin?: string) {
  const r = await docker(args, cluster.env, { stdin, timeoutMs: 60_000 });
  expect(r.code, `docker ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The one running container of the service, once it is the only one and runs `task`-other than `not`. */
async function runningTask(service: string, not?: string) {
  return eventually(async () => {
    const running = (await cluster.containers()).filter((c) => c.Labels['swarmlet.service.name'] === service && c.State === 'running');
    const [c] = running;
    return running.length === 1 && c!.Labels['swarmlet.task.id'] !== not ? c : undefined;
  }, 60_000);
}

/** Mode string, uid and gid as busybox's `ls -ln` prints them (the image has no stat). */
async function owner(containerId: string, path: string) {
  const [mode, , uid, gid] = (await exec(containerId, 'ls', '-ln', path)).trim().split(/\s+/);
  return `${mode} ${uid} ${gid}`;
}

async function exec(containerId: string, ...command: string[]) {
  const r = await docker(['exec', containerId, ...command], engineEnv);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

const fsType = (dir: string) => execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir], { encoding: 'utf8' }).trim();

describe('secrets and configs in the container', () => {
  let firstTask = '';

  it('a service with --secret and --config reads them as files with the given owner and mode, from a tmpfs', async () => {
    await cli(['secret', 'create', 's', '-'], V1);
    await cli(['secret', 'create', 's2', '-'], V2);
    await cli(['config', 'create', 'c', '-'], CONFIG);
    await cluster.createService('reader', ['--secret', 'source=s,mode=0400,uid=1000,gid=1001', '--config', 'c', 'local/busybox:1', 'sleep', '600']);
    const c = await runningTask('reader');
    firstTask = c.Labels['swarmlet.task.id']!;
    expect(await exec(c.Id, 'cat', '/run/secrets/s')).toBe(V1);
    expect(await owner(c.Id, '/run/secrets/s')).toBe('-r-------- 1000 1001');
    expect(await exec(c.Id, 'cat', '/c')).toBe(CONFIG);
    expect(await owner(c.Id, '/c')).toBe('-r--r--r-- 0 0');
    // Read-only in the container, and held in memory on the host.
    const write = await docker(['exec', c.Id, 'sh', '-c', 'echo x > /run/secrets/s'], engineEnv);
    expect(write.code).not.toBe(0);
    const taskDir = join(TASK_FILES_ROOT, firstTask);
    expect(fsType(taskDir)).toBe('tmpfs');
    const mounts = (await cluster.engine.getContainer(c.Id).inspect()).Mounts;
    expect(mounts.map((m) => [m.Source.startsWith(`${taskDir}/`), m.Destination, m.RW]).sort()).toEqual([
      [true, '/c', false],
      [true, '/run/secrets/s', false],
    ]);
  });

  it('service update --secret-rm s --secret-add source=s2,target=s rolls the task; the new file holds s2; the old tmpfs goes', async () => {
    await cli(['service', 'update', '--detach', '--secret-rm', 's', '--secret-add', 'source=s2,target=s', 'reader']);
    const c = await runningTask('reader', firstTask);
    expect(await exec(c.Id, 'cat', '/run/secrets/s')).toBe(V2);
    await eventually(async () => !readdirSync(TASK_FILES_ROOT).includes(firstTask), 30_000);
    // Not in use any more: s can go; s2 cannot.
    await cli(['secret', 'rm', 's']);
    const refused = await docker(['secret', 'rm', 's2'], cluster.env);
    expect(refused.stderr).toContain("secret 's2' is in use by the following service: reader");
  });

  it("the values are in no file of the control plane's or the agent's, and in no log", async () => {
    const onDisk = [...filesUnder(cluster.cp.dataDir), ...filesUnder(cluster.stateDir)].map((f) => f.bytes);
    expect(onDisk.length).toBeGreaterThan(2);
    for (const value of [V1, V2]) {
      const base64 = Buffer.from(value).toString('base64');
      expect(onDisk.filter((b) => b.includes(value) || b.includes(base64))).toEqual([]);
      expect(cluster.cp.output()).not.toContain(value);
      expect(cluster.agent.output()).not.toContain(value);
      expect(cluster.agent.output()).not.toContain(base64);
    }
  });

  it('removing the service removes its files', async () => {
    const task = (await runningTask('reader')).Labels['swarmlet.task.id']!;
    expect(readdirSync(TASK_FILES_ROOT)).toContain(task);
    await cli(['service', 'rm', 'reader']);
    await eventually(async () => !readdirSync(TASK_FILES_ROOT).includes(task), 30_000);
  });
});
