/**
 * Agents follow instances: two real control-plane processes on one database file, the real agent
 * joined with the first one's token running a replicated service on the real engine. The instance
 * in the token is killed (SIGKILL); the service is scaled through the other, and the agent, which
 * learnt the other's URL with its assignments, converges through it. Then the first comes back,
 * the second is killed, and the agent moves back.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCluster } from '../harness/agent-cluster.ts';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker, eventually } from '../harness/docker-cli.ts';

// The leader lease of the failover test: the survivor leads within about 3 s of the kill.
const TIMINGS = { LEASE_TTL_MS: '3000', LEASE_RENEW_MS: '1000', LEASE_RETRY_MS: '500', INSTANCE_TTL_MS: '3000', INSTANCE_RENEW_MS: '1000' };
/** The bound the issue sets: from the kill to the agent's containers matching the new spec. */
const CONVERGE_WITHIN_MS = 10_000;
/** "Within a couple of seconds": the agent's next request after the failed one goes to the other. */
const MOVE_WITHIN_MS = 3_000;

const cluster = new AgentCluster('failover', { controlPlaneEnv: { ...TIMINGS, INSTANCE_ID: 'cp-a' } });
const others: ControlPlaneProcess[] = [];

/** Another instance on the cluster's database file (its key file and docker config too). */
async function startInstance(id: string, port = 0): Promise<ControlPlaneProcess> {
  const cp = await startControlPlane({ dataDir: cluster.cp.dataDir, env: { ...TIMINGS, INSTANCE_ID: id, PORT: String(port) } });
  others.push(cp);
  return cp;
}

const savedInstances = () => JSON.parse(readFileSync(join(cluster.stateDir, 'control-planes.json'), 'utf8')) as { current: string; live: string[] };

async function runningCount(service: string): Promise<number> {
  const all = await cluster.engine.listContainers({ all: true, filters: { label: [`swarmlet.node.id=${cluster.nodeId}`, `swarmlet.service.name=${service}`] } });
  return all.filter((c) => c.State === 'running').length === all.length ? all.length : -1;
}

/**
 * SIGKILLs `dead` and scales through `via`; returns how long after the kill the agent was using
 * `via` (as its state dir says) and the engine ran exactly `replicas`.
 */
async function killAndScale(dead: ControlPlaneProcess, via: ControlPlaneProcess, service: string, replicas: number) {
  const killedAt = performance.now();
  await dead.stop('SIGKILL');
  const since = () => performance.now() - killedAt;
  const moved = eventually(async () => savedInstances().current === via.url, 30_000, 50).then(since);
  const led = via.waitForOutput(/leader: holding the lease at epoch \d+/, 30_000).then(since);
  cluster.env = via.dockerEnv;
  const scaled = await docker(['service', 'scale', '--detach', `${service}=${replicas}`], cluster.env);
  expect(scaled.code, scaled.stderr).toBe(0);
  await eventually(async () => (await runningCount(service)) === replicas, 30_000, 100);
  return { convergedMs: since(), movedMs: await moved, leaderMs: await led };
}

describe('agents follow control-plane instances', () => {
  beforeAll(() => cluster.start(), 60_000);
  afterAll(async () => {
    await cluster.stop();
    for (const cp of others) await cp.stop('SIGKILL');
  }, 60_000);

  it('moves to the other instance when the one in its join token is killed, and back when that one returns', async () => {
    const a = cluster.cp;
    const service = `f${cluster.run}`;
    const b = await startInstance('cp-b');
    await cluster.createService(service, ['--replicas', '2', 'local/busybox:1', 'sleep', '3600']);
    await eventually(async () => (await runningCount(service)) === 2);
    // B's URL reached the agent with an answer and is kept in its state dir.
    await eventually(async () => savedInstances().live.includes(b.url), 15_000);
    expect(savedInstances().live).toContain(a.url);

    const first = await killAndScale(a, b, service, 4);
    console.log(`instance in the join token killed: agent on the other after ${Math.round(first.movedMs)} ms, lease taken after ${Math.round(first.leaderMs)} ms, 4 replicas running after ${Math.round(first.convergedMs)} ms`);
    expect(first.movedMs).toBeLessThan(MOVE_WITHIN_MS);
    expect(first.convergedMs).toBeLessThan(CONVERGE_WITHIN_MS);
    expect(cluster.agent.output()).toMatch(new RegExp(`control plane instance unreachable; moving to the next one.*to=${b.url.replace(/[.:/]/g, '\\$&')}`));
    expect(savedInstances().current).toBe(b.url);
    const nodes = await docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], cluster.env);
    expect(nodes.stdout).toContain(`${cluster.hostname} Ready`);

    // A comes back at its URL; the agent learns it from B's answers, and goes back when B dies.
    const a2 = await startInstance('cp-a', a.port);
    expect(a2.url).toBe(a.url);
    await docker(['service', 'update', '--detach', '--env-add', 'ROUND=2', service], cluster.env);
    await eventually(async () => savedInstances().live.includes(a.url), 15_000);
    await eventually(async () => (await runningCount(service)) === 4, 30_000);
    const second = await killAndScale(b, a2, service, 1);
    console.log(`second instance killed: agent back on the first after ${Math.round(second.movedMs)} ms, lease taken after ${Math.round(second.leaderMs)} ms, 1 replica running after ${Math.round(second.convergedMs)} ms`);
    expect(second.movedMs).toBeLessThan(MOVE_WITHIN_MS);
    expect(second.convergedMs).toBeLessThan(CONVERGE_WITHIN_MS);
    expect(savedInstances().current).toBe(a.url);
  }, 120_000);
});
