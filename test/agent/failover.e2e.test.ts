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

/** The service's containers on the engine: how many, and how many of them run. */
async function containersOf(service: string) {
  const all = await cluster.engine.listContainers({ all: true, filters: { label: [`swarmlet.node.id=${cluster.nodeId}`, `swarmlet.service.name=${service}`] } });
  return { all: all.length, running: all.filter((c) => c.State === 'running').length };
}

const exactlyRunning = async (service: string, n: number) => {
  const c = await containersOf(service);
  return c.all === n && c.running === n;
};

/**
 * SIGKILLs `dead` and scales through `via`. Returns, from the kill: when the agent was using `via`
 * (its state dir says so), when `via` logged taking the lease, when the engine had exactly
 * `replicas` containers of the service (the agent acted on what `via` decided), and when all of
 * them ran (that adds the engine's container start, 5 to 9 s on this shared, loaded machine).
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
  await eventually(async () => (await containersOf(service)).all === replicas, 30_000, 100);
  const convergedMs = since();
  await eventually(() => exactlyRunning(service, replicas), 30_000, 100);
  return { movedMs: await moved, leaderMs: await led, convergedMs, runningMs: since() };
}

const figures = (f: Awaited<ReturnType<typeof killAndScale>>) =>
  `agent on the survivor after ${Math.round(f.movedMs)} ms, lease taken (logged) after ${Math.round(f.leaderMs)} ms, ` +
  `containers converged after ${Math.round(f.convergedMs)} ms, all running after ${Math.round(f.runningMs)} ms`;

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
    await cluster.createService(service, ['--replicas', '3', 'local/busybox:1', 'sleep', '3600']);
    await eventually(() => exactlyRunning(service, 3));
    // B's URL reached the agent with an answer and is kept in its state dir.
    await eventually(async () => savedInstances().live.includes(b.url), 15_000);
    expect(savedInstances().live).toContain(a.url);

    // Scaled up: the new task is placed only by the survivor's scheduler (it needs the lease), and
    // its container made only by an agent following the survivor.
    const first = await killAndScale(a, b, service, 4);
    console.log(`instance in the join token killed, scaled 3 to 4 through the other: ${figures(first)}`);
    expect(first.movedMs).toBeLessThan(MOVE_WITHIN_MS);
    expect(first.convergedMs).toBeLessThan(CONVERGE_WITHIN_MS);
    expect(cluster.agent.output()).toMatch(new RegExp(`control plane instance unreachable; moving to the next one.*to=${b.url.replace(/[.:/]/g, '\\$&')}`));
    expect(savedInstances().current).toBe(b.url);
    const nodes = await docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], cluster.env);
    expect(nodes.stdout).toContain(`${cluster.hostname} Ready`);

    // A ages out of the list (INSTANCE_TTL_MS) and the agent hears so with B's next answer (a node
    // label change brings one without touching the containers); A comes back at its URL, the agent
    // learns that the same way, and goes back to A when B dies.
    const nudge = async (round: number) => {
      const labelled = await docker(['node', 'update', '--label-add', `round=${round}`, cluster.nodeId], cluster.env);
      expect(labelled.code, labelled.stderr).toBe(0);
    };
    let round = 0;
    await eventually(async () => (await nudge(++round), !savedInstances().live.includes(a.url)), 20_000, 1_000);
    expect(savedInstances().live).toEqual([b.url]);
    const a2 = await startInstance('cp-a', a.port);
    expect(a2.url).toBe(a.url);
    await eventually(async () => (await nudge(++round), savedInstances().live.includes(a.url)), 20_000, 1_000);
    const second = await killAndScale(b, a2, service, 3);
    console.log(`second instance killed, scaled 4 to 3 through the first, back: ${figures(second)}`);
    expect(second.movedMs).toBeLessThan(MOVE_WITHIN_MS);
    expect(second.convergedMs).toBeLessThan(CONVERGE_WITHIN_MS);
    expect(savedInstances().current).toBe(a.url);
  }, 120_000);
});
