/**
 * Job modes end to end: the real docker CLI creates jobs, the real agent runs their tasks on the
 * real engine to completion, and the CLI's own job progress and listings say so.
 */
import { describe, expect, it } from 'vitest';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { docker } from '../harness/docker-cli.ts';

const cluster = useAgentCluster('jobs-e2e');
const { run: RUN, engine } = cluster;

interface TaskRow {
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
}

async function tasks(service: string): Promise<TaskRow[]> {
  const res = await docker(['service', 'ps', '--format', '{{json .}}', service], cluster.env);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TaskRow);
}

/** This node's task containers of one service, as the engine sees them (stopped ones too). */
const containers = (service: string) =>
  engine.listContainers({ all: true, filters: { label: [`swarmlet.node.id=${cluster.nodeId}`, `swarmlet.service.name=${service}`] } });

async function serviceLs(service: string): Promise<string> {
  const res = await docker(['service', 'ls', '--filter', `name=${service}`, '--format', '{{.Mode}} {{.Replicas}}'], cluster.env);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim();
}

describe('job modes with the docker CLI', () => {
  it('attached create of a replicated job waits for it, reports it complete and exits 0', async () => {
    const name = `j${RUN}`;
    const res = await cluster.createService(name, ['--mode', 'replicated-job', '--replicas', '3', 'local/busybox:1', 'sh', '-c', 'echo ran-$(hostname); sleep 1'], { detach: false });
    expect(res.code, res.stderr).toBe(0);
    // The CLI's job progress (without a terminal it prints no bars): all three at once, then done.
    expect(res.stdout).toMatch(/active tasks: 3 out of 3 tasks\n[^]*active tasks: 0 out of 0 tasks\njob complete\n$/);
    const list = await tasks(name);
    expect(list).toHaveLength(3);
    for (const t of list) {
      expect(t.DesiredState).toBe('Complete');
      expect(t.CurrentState).toMatch(/^Complete /);
    }
    // Nothing runs any more; the exited containers stay, as dockerd keeps them, so their logs can be read.
    const left = await containers(name);
    expect(left.filter((c) => c.State === 'running')).toEqual([]);
    expect(left.map((c) => c.State)).toEqual(['exited', 'exited', 'exited']);
    const logs = await docker(['service', 'logs', '--raw', name], cluster.env);
    expect(logs.stdout.trim().split('\n').filter((l) => l.startsWith('ran-'))).toHaveLength(3);
    expect(await serviceLs(name)).toBe('replicated job 0/3 (3/3 completed)');
  });

  it('a global job runs once on the node, and not again', async () => {
    const name = `g${RUN}`;
    const res = await cluster.createService(name, ['--mode', 'global-job', 'local/busybox:1', 'sh', '-c', 'true'], { detach: false });
    expect(res.stdout + res.stderr).toMatch(/job complete/);
    const [only, ...more] = await tasks(name);
    expect(more).toEqual([]);
    expect(only).toMatchObject({ Node: cluster.hostname, DesiredState: 'Complete' });
    expect(only!.CurrentState).toMatch(/^Complete /);
    expect(await serviceLs(name)).toBe('global job 0/0 (1/1 completed)');
    // Well past the default restart delay (5 s), it has not run again.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await tasks(name)).toHaveLength(1);
    expect((await containers(name)).filter((c) => c.State === 'running')).toEqual([]);
  });
});
