/**
 * A failed overlay mesh pass is retried by the agent itself, with the answer it holds: the
 * control plane wakes a node's long-poll only for changes that concern it, so the next answer may
 * be a whole long-poll wait away (120 s here), and a task elsewhere could not reach this one.
 *
 * The failing step is real: a bridge link squats the name of the agent's WireGuard interface, so
 * `wg set` refuses it ("Protocol not supported") and every pass fails until the test removes it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { freePort, httpGet } from '../harness/net.ts';

const run = promisify(execFile);
const succeeds = (cmd: string, args: string[]) => run(cmd, args).then(() => true, () => false);

let cluster: AgentCluster;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  cluster = new AgentCluster('meshretry', {
    agentArgs: ['--metrics-addr', `127.0.0.1:${metricsPort}`, '--debug'],
    agentEnv: { SWARM_AGENT_LONG_POLL_WAIT_MS: '120000' },
  });
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await succeeds('ip', ['link', 'del', 'dev', cluster.wireguardInterface]);
  await cluster.stop();
}, 60_000);

/** Assignment answers the agent has received, from its own metrics. */
async function answersReceived(): Promise<number> {
  const text = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
  const m = /^swarm_agent_assignments_received_total (\d+)/m.exec(text ?? '');
  if (!m) throw new Error(`no assignments counter in the agent's metrics: ${text}`);
  return Number(m[1]);
}

it('converges a mesh whose first passes failed, on its own timer, with no new assignments answer', async () => {
  const iface = cluster.wireguardInterface;
  await run('ip', ['link', 'add', iface, 'type', 'bridge']);
  const net = `meshretry-${cluster.run}`;
  const created = await docker(['network', 'create', '-d', 'overlay', net], cluster.env);
  expect(created.code, created.stderr).toBe(0);
  await cluster.createService(`mr-${cluster.run}`, ['--network', net, 'local/busybox:1', 'sleep', '3600']);

  // The task runs (its network is the engine's, made without the tunnel) while every mesh pass fails.
  await eventually(async () => (await cluster.containers()).length === 1, 60_000);
  await cluster.agent.waitForOutput(/WARN host networking not converged; retrying.*Protocol not supported/, 30_000);
  // Quiet: the task's running report is the last change that concerns the node. (The metrics
  // cannot be read meanwhile: their `wg show` of the squatted name fails; the debug log names
  // every answer with a new index.)
  await cluster.agent.waitForOutput(/to=running/, 30_000);
  const newIndexes = () => cluster.agent.output().match(/DEBUG assignments /g)?.length ?? 0;
  let seen = { count: newIndexes(), at: Date.now() };
  await eventually(async () => {
    if (newIndexes() !== seen.count) seen = { count: newIndexes(), at: Date.now() };
    return Date.now() - seen.at >= 5_000;
  }, 40_000, 250);
  const failedPasses = cluster.agent.output().match(/host networking (not|still not) converged/g)?.length ?? 0;

  await run('ip', ['link', 'del', 'dev', iface]);
  const freed = Date.now();
  const answers = await answersReceived();
  await eventually(() => succeeds('wg', ['show', iface]), 20_000, 100);
  await cluster.agent.waitForOutput(/INFO host networking converged after \d+ attempts/, 20_000);
  const convergedMs = Date.now() - freed;
  console.log(
    `mesh retry: ${failedPasses} failed passes before the squatting link went; the WireGuard interface was up ${convergedMs} ms after, with ${(await answersReceived()) - answers} new answers`,
  );
  expect(await answersReceived()).toBe(answers);
  // The longest wait between retries is 10 s; the pass itself takes a few hundred ms.
  expect(convergedMs).toBeLessThan(15_000);
  // The failure was logged once (a warning), not on every retry.
  expect(cluster.agent.output().match(/WARN host networking not converged/g)).toHaveLength(1);
}, 150_000);
