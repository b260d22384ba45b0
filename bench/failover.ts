/**
 * Leader failover (issue 13): two control plane processes on one database file; A leads, the agents
 * talk to B. A is SIGKILLed and a service is created through B at once:
 *   `failover.leader_kill_to_lease_s`: until B holds the lease;
 *   `failover.leader_kill_to_scheduling_s`: until B's commits have placed that service's tasks.
 * The lease at its defaults (LEASE_TTL_MS 15 s): the figure is mostly the wait for A's lease to run
 * out, which no survivor can tell from a slow leader. `--quick` uses a 3 s lease.
 * (`failover.host_loss_to_converged_s` is the mesh benchmark's host kill, on real hosts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ControlPlaneProcess, startControlPlane } from '../test/harness/control-plane-process.ts';
import { serviceSpec, SwarmClient } from '../test/harness/swarm-client.ts';
import { AgentFleet } from './agent-fleet.ts';
import { BENCH_ENV, placedSoFar, until } from './measure.ts';
import { quick, recordMetric, runWhenMain } from './results.ts';

const AGENTS = quick ? 5 : 100;
const REPLICAS = quick ? 10 : 200;
const LEASE: Record<string, string> = quick ? { LEASE_TTL_MS: '3000', LEASE_RENEW_MS: '1000', LEASE_RETRY_MS: '500' } : {};
const LEADING = /leader: holding the lease at epoch \d+/;

export async function run(): Promise<void> {
  console.log(`\n# failover: two control planes on one file, the leader SIGKILLed; lease ${JSON.stringify(LEASE.LEASE_TTL_MS ? LEASE : 'defaults')}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-failover-'));
  const procs: ControlPlaneProcess[] = [];
  let fleet: AgentFleet | undefined;
  try {
    const a = await startControlPlane({ dataDir, env: { ...BENCH_ENV, ...LEASE, INSTANCE_ID: 'cp-a' } });
    procs.push(a);
    await a.waitForOutput(LEADING);
    const b = await startControlPlane({ dataDir, env: { ...BENCH_ENV, ...LEASE, INSTANCE_ID: 'cp-b' } });
    procs.push(b);
    const apiB = SwarmClient.forProcess(b);
    await apiB.init();
    fleet = await AgentFleet.start(b, await apiB.workerToken(), AGENTS);
    const warm = placedSoFar(a);
    await apiB.createService(serviceSpec('before', { replicas: REPLICAS }));
    await until(() => placedSoFar(a) - warm >= REPLICAS, 60_000, 'the leader to place the first service', 20);

    const killedAt = performance.now();
    await a.stop('SIGKILL');
    await apiB.createService(serviceSpec('after', { replicas: REPLICAS }));
    await b.waitForOutput(LEADING, 120_000);
    const leadingAt = performance.now();
    const placedAt = await until(() => placedSoFar(b) >= REPLICAS, 120_000, 'the new leader to place the service', 20);
    const params = { agents: AGENTS, replicas: REPLICAS, lease_ttl_ms: Number(LEASE.LEASE_TTL_MS ?? 15_000) };
    recordMetric('failover.leader_kill_to_lease_s', (leadingAt - killedAt) / 1000, 's', params);
    recordMetric('failover.leader_kill_to_scheduling_s', (placedAt - killedAt) / 1000, 's', params);
    console.log(`  kill -9 of the leader → the other holds the lease: ${((leadingAt - killedAt) / 1000).toFixed(1)} s; → a service created at the kill placed (${REPLICAS} tasks): ${((placedAt - killedAt) / 1000).toFixed(1)} s`);
  } finally {
    await fleet?.stop();
    for (const p of procs) await p.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
