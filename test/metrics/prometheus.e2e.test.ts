/**
 * A real Prometheus (Debian's package) scrapes a real control plane over HTTPS, trusting its
 * cluster CA and presenting METRICS_TOKEN, and a real agent's metrics listener; the assertions are
 * on what Prometheus collected, through its own query API. Tenant scoping and refusals are checked
 * on the same control plane with plain requests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCluster } from '../harness/agent-cluster.ts';
import { eventually } from '../harness/docker-cli.ts';
import { freePort, httpGet } from '../harness/net.ts';
import { watchOutput, type WatchedProcess } from '../harness/process-output.ts';

const METRICS_TOKEN = `metrics-${Math.random().toString(36).slice(2)}`;
const ADMIN_TOKEN = `admin-${Math.random().toString(36).slice(2)}`;

let cluster: AgentCluster;
let prometheus: WatchedProcess;
let promUrl = '';
let promDir = '';

/** One instant query; the samples' labels and values. */
async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  expect(body.status).toBe('success');
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** The query's single value once it satisfies `ok`. */
const valueOnce = (expr: string, ok: (v: number) => boolean) =>
  eventually(async () => {
    const [first] = await query(expr);
    return first && ok(first.value) ? first.value : undefined;
  }, 60_000, 500);

const scrape = (token?: string) => fetch(`${cluster.cp.url}/metrics`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

/** The API key the control plane wrote into the docker CLI's config. */
const cliApiKey = () => /Bearer (\S+)"/.exec(readFileSync(join(cluster.env.DOCKER_CONFIG!, 'config.json'), 'utf8'))![1]!;

beforeAll(async () => {
  const agentMetricsPort = await freePort();
  cluster = new AgentCluster('metrics-e2e', {
    controlPlaneEnv: { METRICS_TOKEN, ADMIN_TOKEN },
    agentArgs: ['--metrics-addr', `127.0.0.1:${agentMetricsPort}`],
  });
  await cluster.start();
  promDir = mkdtempSync(join(tmpdir(), 'swarmlet-prometheus-'));
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  const caFile = join(cluster.env.DOCKER_CERT_PATH!, 'ca.pem');
  // JSON is YAML: the scrape config Prometheus reads.
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s' },
      scrape_configs: [
        {
          job_name: 'control-plane',
          scheme: 'https',
          tls_config: { ca_file: caFile },
          authorization: { credentials: METRICS_TOKEN },
          static_configs: [{ targets: [new URL(cluster.cp.url).host] }],
        },
        { job_name: 'agent', static_configs: [{ targets: [`127.0.0.1:${agentMetricsPort}`] }] },
      ],
    }),
  );
  const proc = spawn(
    'prometheus',
    [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus = watchOutput(proc, 'prometheus', 30_000);
  await prometheus.waitForOutput(/Server is ready to receive web requests/);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await cluster?.stop();
  if (promDir) rmSync(promDir, { recursive: true, force: true });
}, 90_000);

describe('Prometheus scraping the control plane and an agent', () => {
  it('scrapes both targets: the control plane over HTTPS with its CA and the metrics token', async () => {
    expect(await valueOnce('up{job="control-plane"}', (v) => v === 1)).toBe(1);
    expect(await valueOnce('up{job="agent"}', (v) => v === 1)).toBe(1);
  });

  it('collects tasks by state after a service create, the lease epoch, and the agent\'s running containers', async () => {
    await cluster.createService('web', ['--replicas', '2', 'local/busybox:1', 'sleep', '600']);
    expect(await valueOnce('sum(swarmlet_tasks{state="running",desired_state="running"})', (v) => v === 2)).toBe(2);
    expect(await valueOnce('swarmlet_leader_lease_epoch', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await valueOnce('swarmlet_leader_lease_holder{self="true"}', (v) => v === 1)).toBe(1);
    expect(await valueOnce('swarm_agent_containers{state="running"}', (v) => v === 2)).toBe(2);
    expect(await valueOnce('sum(swarmlet_placements_total)', (v) => v >= 2)).toBeGreaterThanOrEqual(2);
    expect(await valueOnce('swarm_agent_assignments_received_total', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await valueOnce('sum(swarmlet_reconcile_pass_duration_seconds_count)', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await valueOnce('swarmlet_db_transaction_duration_seconds_count', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    // Agents' long-polls, by route pattern and with the cluster they belong to.
    expect(await valueOnce('sum(swarmlet_http_requests_total{route="/agent/v1/assignments",status="200"})', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await valueOnce('sum(swarmlet_long_polls_open)', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    // Measured figure for the report: what one scrape of each target cost Prometheus.
    const [cpScrape] = await query('scrape_duration_seconds{job="control-plane"}');
    const [agentScrape] = await query('scrape_duration_seconds{job="agent"}');
    console.log(`scrape duration: control plane ${(cpScrape!.value * 1000).toFixed(1)} ms, agent ${(agentScrape!.value * 1000).toFixed(1)} ms`);
  }, 120_000);

  it('shows another tenant\'s key none of this cluster\'s series, and refuses a missing key with 401', async () => {
    const ownText = await (await scrape(cliApiKey())).text();
    const clusterId = /swarmlet_tasks\{cluster="([^"]+)"/.exec(ownText)?.[1];
    expect(clusterId, ownText).toBeTruthy();
    const created = await fetch(`${cluster.cp.url}/admin/v1/clusters`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ tenant: 'someone-else', name: 'theirs' }),
    });
    expect(created.status).toBe(201);
    const { apiKey } = (await created.json()) as { apiKey: string };
    const other = await scrape(apiKey);
    expect(other.status).toBe(200);
    const otherText = await other.text();
    expect(otherText).not.toContain(clusterId);
    expect(otherText).not.toContain('swarmlet_leader_lease');
    expect(otherText).not.toContain('swarmlet_db_');
    const none = await scrape();
    expect(none.status).toBe(401);
    expect((await scrape('wrong-key')).status).toBe(401);
    // The probes answer anyone, and say nothing more than their word.
    expect(await httpGet(`${cluster.cp.url}/healthz`)).toBe('ok\n');
    expect(await httpGet(`${cluster.cp.url}/readyz`)).toBe('ready\n');
  });
});
