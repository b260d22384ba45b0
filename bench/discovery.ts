/**
 * Service discovery and internal load balancing on real hosts (test/harness/hosts), three of them,
 * the control plane on the tests' quick liveness. A service `api` of 3 replicas (one per host) and
 * a global `client` share an overlay network; every probe runs as one process in a task
 * container's network namespace (bench/netns-probe.ts), so no `docker exec` is timed:
 *
 *   1. DNS latency: `tasks.api` and `api` through Docker's embedded resolver (127.0.0.11, which
 *      forwards them to the agent on the network's gateway) against a name Docker answers itself
 *      (the container's own name), and against asking the agent directly;
 *   2. VIP vs direct: connect + one answer through the service's virtual IP (DNAT in the client
 *      host's kernel) against the same to the task addresses in turn; requests per second; how
 *      the VIP spreads connections over the 3 tasks;
 *   3. answer changes: from `docker service scale` (up, down) and from a task's container being
 *      killed, to the answer of `tasks.api` changing on another host (polled every 20 ms in its
 *      netns) and to that host's VIP backends (its SWARMLET-VIP rules) changing;
 *   4. a rolling update with start-first of a service of 6 replicas (each answering TCP itself, as
 *      an application does) under a steady loop of connections to its VIP: requests dropped.
 *
 *   npm run bench -- discovery   (as root, with dockerd and local/busybox:1; see .ci/run)
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VIP_CHAIN } from '../agent/mesh/names.ts';
import type { HostCluster, TestHost } from '../test/harness/hosts/cluster.ts';
import { runIn, sleep } from '../test/harness/hosts/command.ts';
import { TEST_IMAGE } from '../test/harness/hosts/engine.ts';
import { mustDocker, ratio, row, runningOn, type RunningTask, s, taskOn, tasksOn, until, withHostCluster } from './host-cluster.ts';
import { recordMetric } from './results.ts';
import { probeIn, probeResult, quantile } from './mesh-paths.ts';
import type { DnsQuery, DnsTimes, TcpSample } from './netns-probe.ts';

const DOCKER_RESOLVER = '127.0.0.11';
const LOOKUPS = 200;
const CONNECTIONS = 300;
const RATE_MS = 3_000;
const RATE_CONCURRENCY = 8;
const WATCH_INTERVAL_MS = 20;
const PORT = 8080;
const ROLLING_REPLICAS = 6;
const ROLLING_CONCURRENCY = 4;
/** χ² with 2 degrees of freedom (3 tasks) above which an even spread is unlikely (p < 0.05). */
const CHI2_2DF_P05 = 5.99;

const wallMs = () => performance.timeOrigin + performance.now();
const ms = (v: number) => `${v.toFixed(2)} ms`;

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), n: sorted.length };
}
const pp = (values: number[]) => {
  const p = percentiles(values);
  return `p50 ${ms(p.p50)}, p99 ${ms(p.p99)} (${p.n})`;
};

interface Services {
  net: string;
  api: string;
  client: string;
  vip: string;
  /** The api task on each host, by host name. */
  tasks: Map<string, RunningTask>;
}

async function deploy(cluster: HostCluster): Promise<Services> {
  const [net, api, client] = ['disco', 'api', 'client'].map((n) => `${cluster.prefix}-${n}`) as [string, string, string];
  await mustDocker(cluster, ['network', 'create', '-d', 'overlay', net]);
  await mustDocker(cluster, ['service', 'create', '--detach', '--name', api, '--replicas', '3', '--network', net, TEST_IMAGE, 'sleep', '3600']);
  await mustDocker(cluster, ['service', 'create', '--detach', '--name', client, '--mode', 'global', '--network', net, TEST_IMAGE, 'sleep', '3600']);
  const tasks = await until(
    async () => {
      const found = await Promise.all(cluster.hosts.map(async (h) => [h.name, await taskOn(h, api), await taskOn(h, client)] as const));
      return found.every(([, a, c]) => a && c) ? new Map(found.map(([name, a]) => [name, a!])) : undefined;
    },
    90_000,
    `one task of ${api} and of ${client} running on every host`,
  );
  const netId = await mustDocker(cluster, ['network', 'inspect', '--format', '{{.Id}}', net]);
  const vips = JSON.parse(await mustDocker(cluster, ['service', 'inspect', '--format', '{{json .Endpoint.VirtualIPs}}', api])) as Array<{ NetworkID: string; Addr: string }>;
  const vip = vips.find((v) => v.NetworkID === netId)?.Addr.split('/')[0];
  if (!vip) throw new Error(`${api} has no virtual IP on ${net}: ${JSON.stringify(vips)}`);
  return { net, api, client, vip, tasks };
}

/** Where Docker's resolver in the task's container forwards what it does not know: the agent. */
async function agentResolver(host: TestHost, task: RunningTask): Promise<string> {
  const dns = (await host.engine.getContainer(task.id).inspect()).HostConfig.Dns;
  if (!dns?.[0]) throw new Error(`${task.name} on ${host.name} has no DNS server set`);
  return dns[0];
}

async function dnsLatency(cluster: HostCluster, svc: Services): Promise<void> {
  const h1 = cluster.host(1);
  const client = (await taskOn(h1, svc.client))!;
  const agent = await agentResolver(h1, client);
  const queries: Array<DnsQuery & { label: string }> = [
    { label: `tasks.<service> via ${DOCKER_RESOLVER}`, server: DOCKER_RESOLVER, name: `tasks.${svc.api}` },
    { label: `<service> (VIP) via ${DOCKER_RESOLVER}`, server: DOCKER_RESOLVER, name: svc.api },
    { label: `own container name via ${DOCKER_RESOLVER}`, server: DOCKER_RESOLVER, name: client.name },
    { label: `tasks.<service> from the agent (${agent})`, server: agent, name: `tasks.${svc.api}` },
  ];
  const expected = [...svc.tasks.values()].map((t) => t.addr).sort();
  // The first answers may wait for the host's next assignments (its names view).
  await until(
    async () => {
      const [first] = await probeResult<DnsTimes[]>(client.netns, ['dns-latency', JSON.stringify({ rounds: 1, warmup: 0, queries: queries.slice(0, 1) })]);
      return first!.addresses.join() === expected.join() ? true : undefined;
    },
    30_000,
    `tasks.${svc.api} to answer the 3 task addresses`,
  );
  const times = await probeResult<DnsTimes[]>(client.netns, ['dns-latency', JSON.stringify({ rounds: LOOKUPS, queries })]);
  console.log(`\n## DNS latency from the client task on h${h1.index}: ${LOOKUPS} rounds of the 4 lookups in turn, one UDP socket in the task's netns`);
  queries.forEach((q, i) => row(q.label, `${pp(times[i]!.times)}${times[i]!.lost ? `, ${times[i]!.lost} lost` : ''} → ${times[i]!.addresses.join(' ') || `rcode ${times[i]!.rcode}`}`));
  const [tasks, vip, local, direct] = times.map((t) => percentiles(t.times)) as [ReturnType<typeof percentiles>, ReturnType<typeof percentiles>, ReturnType<typeof percentiles>, ReturnType<typeof percentiles>];
  row('tasks.<service> / Docker-local name', `p50 ${ratio(tasks.p50, local.p50)}, p99 ${ratio(tasks.p99, local.p99)}`);
  row('<service> / Docker-local name', `p50 ${ratio(vip.p50, local.p50)}, p99 ${ratio(vip.p99, local.p99)}`);
  row("our hop, p50 (Docker's forward + agent)", `${ms(tasks.p50 - local.p50)}; the agent alone ${ms(direct.p50)}`);
  for (const [query, p] of [['tasks.<service>', tasks], ['<service>', vip], ['docker-local name', local], ['agent directly', direct]] as const) {
    recordMetric('discovery.dns_p50_ms', p.p50, 'ms', { query, rounds: LOOKUPS });
    recordMetric('discovery.dns_p99_ms', p.p99, 'ms', { query, rounds: LOOKUPS });
  }
  if (times[0]!.addresses.join() !== expected.join()) console.log(`  (tasks.${svc.api} answered ${times[0]!.addresses.join(' ')}, the engines run ${expected.join(' ')})`);
  if (times[1]!.addresses.join() !== svc.vip) console.log(`  (${svc.api} answered ${times[1]!.addresses.join(' ')}, its VIP is ${svc.vip})`);
}

function spread(samples: TcpSample[], hosts: string[]): { counts: number[]; chi2: number; maxMin: number } {
  const counts = hosts.map((h) => samples.filter((x) => x.who === h).length);
  const expected = counts.reduce((a, b) => a + b, 0) / hosts.length;
  const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
  return { counts, chi2, maxMin: Math.max(...counts) / Math.max(1, Math.min(...counts)) };
}

async function vipVersusDirect(cluster: HostCluster, svc: Services): Promise<void> {
  const h1 = cluster.host(1);
  const client = (await taskOn(h1, svc.client))!;
  const hosts = cluster.hosts.map((h) => h.name);
  const addrs = hosts.map((h) => svc.tasks.get(h)!.addr);
  // A small server in each api task's netns: the path is the task's, the answer says which it was.
  const servers = hosts.map((h) => probeIn(svc.tasks.get(h)!.netns, ['tcp-serve', PORT, h]));
  try {
    await Promise.all(servers.map((p) => p.waitForOutput(/listening/)));
    // The VIP's rules come with the host's next assignments after the tasks run.
    await until(async () => ((await probeResult<TcpSample[]>(client.netns, ['tcp-connect', PORT, 1, svc.vip]))[0]!.who ? true : undefined), 30_000, `a connection to ${svc.vip}:${PORT}`);
    // VIP and direct connections alternate in one run, so both meet the same moments of a busy machine.
    const both = await probeResult<TcpSample[]>(client.netns, ['tcp-connect', PORT, 2 * CONNECTIONS, ...addrs.flatMap((a) => [svc.vip, a])]);
    const viaVip = both.filter((x) => x.addr === svc.vip);
    const direct = both.filter((x) => x.addr !== svc.vip);
    const rates = { vip: { done: 0, ms: 0, failed: 0 }, direct: { done: 0, ms: 0, failed: 0 } };
    for (let round = 0; round < 4; round++) {
      const [which, targets] = round % 2 ? (['direct', addrs] as const) : (['vip', [svc.vip]] as const);
      const r = await probeResult<{ done: number; failed: number; ms: number }>(client.netns, ['tcp-rate', PORT, RATE_MS / 2, RATE_CONCURRENCY, ...targets]);
      for (const k of ['done', 'ms', 'failed'] as const) rates[which][k] += r[k];
    }
    const ok = (list: TcpSample[]) => list.filter((x) => x.who).map((x) => x.ms);
    const failed = (list: TcpSample[]) => list.length - ok(list).length;
    const short = (h: string) => h.slice(cluster.prefix.length + 1);
    console.log(`\n## VIP vs direct, from the client task on ${short(h1.name)}: ${CONNECTIONS} connections each, alternating (connect, read one answer to its end)`);
    row(`through the VIP ${svc.vip}`, `${pp(ok(viaVip))}${failed(viaVip) ? `, ${failed(viaVip)} failed` : ''}`);
    row('to the task addresses in turn', `${pp(ok(direct))}${failed(direct) ? `, ${failed(direct)} failed` : ''}`);
    for (const h of hosts) {
      const to = (list: TcpSample[]) => list.filter((x) => x.who === h).map((x) => x.ms);
      row(`  task on ${short(h)}${h === h1.name ? ' (local)' : ''}, VIP / direct`, `p50 ${ms(percentiles(to(viaVip)).p50)} / ${ms(percentiles(to(direct)).p50)}`);
    }
    const [pv, pd] = [percentiles(ok(viaVip)), percentiles(ok(direct))];
    row('VIP / direct', `p50 ${ratio(pv.p50, pd.p50)} (${pv.p50 >= pd.p50 ? '+' : ''}${ms(pv.p50 - pd.p50)}), p99 ${ratio(pv.p99, pd.p99)}`);
    const [vipRate, directRate] = [rates.vip, rates.direct];
    const rate = (r: typeof vipRate) => (r.done / r.ms) * 1000;
    row(`requests/s, ${RATE_CONCURRENCY} at a time, ${s(RATE_MS)} each`, `VIP ${rate(vipRate).toFixed(0)}, direct ${rate(directRate).toFixed(0)} (${ratio(rate(vipRate), rate(directRate))}); failed ${vipRate.failed} / ${directRate.failed}`);
    recordMetric('discovery.tcp_p50_ms', pv.p50, 'ms', { path: 'vip', connections: CONNECTIONS });
    recordMetric('discovery.tcp_p50_ms', pd.p50, 'ms', { path: 'direct', connections: CONNECTIONS });
    recordMetric('discovery.requests_per_s', rate(vipRate), 'requests/s', { path: 'vip', concurrency: RATE_CONCURRENCY });
    recordMetric('discovery.requests_per_s', rate(directRate), 'requests/s', { path: 'direct', concurrency: RATE_CONCURRENCY });
    const sp = spread(viaVip, hosts);
    row(`VIP spread over ${hosts.map(short).join(' / ')}`, `${sp.counts.join(' / ')}: max/min ${sp.maxMin.toFixed(2)}, χ² ${sp.chi2.toFixed(2)} (${sp.chi2 > CHI2_2DF_P05 ? 'uneven' : 'even'} at p 0.05: ${CHI2_2DF_P05})`);
  } finally {
    await Promise.all(servers.map((p) => p.stop('SIGKILL')));
  }
}

/** The backends of one VIP in a host's nat table: the addresses its DNAT rules send to. */
async function vipBackends(host: TestHost, vip: string): Promise<string[]> {
  const res = await runIn(host.name, 'iptables', ['-w', '5', '-t', 'nat', '-S', VIP_CHAIN], 10_000);
  if (res.code !== 0) throw new Error(`iptables on ${host.name}: ${res.stderr}`);
  return res.stdout
    .split('\n')
    .filter((l) => l.includes(`-d ${vip}/32`))
    .map((l) => /--to-destination ([\d.]+)/.exec(l)?.[1])
    .filter((a): a is string => !!a)
    .sort();
}

async function answerChanges(cluster: HostCluster, svc: Services): Promise<void> {
  const h2 = cluster.host(2);
  const client = (await taskOn(h2, svc.client))!;
  const watcher = probeIn(client.netns, ['dns-watch', DOCKER_RESOLVER, `tasks.${svc.api}`, WATCH_INTERVAL_MS]);
  const answers = () => [...watcher.output().matchAll(/^answer ([\d.]+) (.*)$/gm)].map((m) => ({ at: Number(m[1]), addrs: m[2]!.split(',').filter(Boolean) }));
  /**
   * From `since` (wall ms) to the first DNS answer on h2 and to h2's VIP backends satisfying
   * `done`, each polled on its own, and (when asked) to the engines running `running` tasks.
   */
  const timeTo = async (since: number, done: (addrs: string[]) => boolean, what: string, running?: number) => {
    const [dnsAt, vipAt, enginesAt] = await Promise.all([
      until(async () => answers().find((a) => a.at >= since && done(a.addrs))?.at, 60_000, `${what} in DNS`, WATCH_INTERVAL_MS),
      until(async () => (done(await vipBackends(h2, svc.vip)) ? wallMs() : undefined), 60_000, `${what} in the VIP backends`, WATCH_INTERVAL_MS),
      running === undefined
        ? undefined
        : until(async () => ((await Promise.all(cluster.hosts.map((h) => runningOn(h, svc.api)))).flat().length === running ? wallMs() : undefined), 60_000, `${what} on the engines`),
    ]);
    return `DNS ${s(dnsAt - since)}, VIP backends ${s(vipAt - since)}${enginesAt ? `; ${running} running on the engines ${s(enginesAt - since)}` : ''}`;
  };
  const scale = async (n: number) => {
    const since = wallMs();
    await mustDocker(cluster, ['service', 'scale', '--detach', `${svc.api}=${n}`]);
    return since;
  };
  try {
    await watcher.waitForOutput(/^answer .*\d$/m);
    console.log(`\n## answer changes, seen from the client task on h${h2.index} (DNS every ${WATCH_INTERVAL_MS} ms in its netns; its host's ${VIP_CHAIN} rules)`);
    row('scale 3 → 5', await timeTo(await scale(5), (a) => a.length === 5, 'scale to 5', 5));
    row('scale 5 → 2', await timeTo(await scale(2), (a) => a.length === 2, 'scale to 2', 2));
    const [victimHost, victim] = await until(
      async () => {
        for (const h of cluster.hosts.filter((x) => x !== h2)) {
          const [t] = await tasksOn(h, svc.api);
          if (t) return [h, t] as const;
        }
        return undefined;
      },
      10_000,
      `a task of ${svc.api} off ${h2.name}`,
    );
    const since = wallMs();
    const kill = await cluster.hostDocker(victimHost, ['kill', victim.id]);
    if (kill.code !== 0) throw new Error(`docker kill on ${victimHost.name}: ${kill.stderr}`);
    row(`its task on h${victimHost.index} killed`, await timeTo(since, (a) => !a.includes(victim.addr), `${victim.addr} to leave the answers`));
  } finally {
    await watcher.stop('SIGKILL');
  }
}

/**
 * A service whose tasks answer on their own (busybox nc, one process per connection), replaced one
 * by one with start-first while the client on h1 connects to its VIP in a loop: every connection
 * must be answered, by an old task or a new one.
 */
async function rollingUpdate(cluster: HostCluster, svc: Services): Promise<void> {
  const roll = `${cluster.prefix}-roll`;
  const h1 = cluster.host(1);
  const client = (await taskOn(h1, svc.client))!;
  await mustDocker(cluster, ['service', 'create', '--detach', '--name', roll, '--replicas', String(ROLLING_REPLICAS), '--network', svc.net, TEST_IMAGE, 'nc', '-ll', '-p', String(PORT), '-e', 'hostname']);
  const running = async () => (await Promise.all(cluster.hosts.map((h) => runningOn(h, roll)))).flat();
  const before = new Set((await until(async () => ((await running()).length === ROLLING_REPLICAS ? running() : undefined), 90_000, `${ROLLING_REPLICAS} tasks of ${roll}`)).map((c) => c.Id));
  const netId = await mustDocker(cluster, ['network', 'inspect', '--format', '{{.Id}}', svc.net]);
  const vips = JSON.parse(await mustDocker(cluster, ['service', 'inspect', '--format', '{{json .Endpoint.VirtualIPs}}', roll])) as Array<{ NetworkID: string; Addr: string }>;
  const vip = vips.find((v) => v.NetworkID === netId)!.Addr.split('/')[0]!;
  await until(async () => ((await probeResult<TcpSample[]>(client.netns, ['tcp-connect', PORT, 1, vip]))[0]!.who ? true : undefined), 30_000, `a connection to ${vip}:${PORT}`);
  const stopFile = join(tmpdir(), `${roll}.stop`);
  rmSync(stopFile, { force: true });
  const loop = probeIn(client.netns, ['tcp-loop', PORT, ROLLING_CONCURRENCY, stopFile, vip]);
  try {
    await sleep(1_000);
    const since = wallMs();
    await mustDocker(cluster, ['service', 'update', '--detach', '--force', '--update-order', 'start-first', roll]);
    await until(async () => {
      const now = await running();
      return now.length === ROLLING_REPLICAS && now.every((c) => !before.has(c.Id)) ? true : undefined;
    }, 180_000, `every task of ${roll} replaced`);
    const tookMs = wallMs() - since;
    // The last old task drains before it stops: keep connecting until it is gone for a while.
    await sleep(2_000);
    writeFileSync(stopFile, '');
    await loop.exited;
    const line = /^result (.*)$/m.exec(loop.output());
    if (!line) throw new Error(`tcp-loop printed no result: ${loop.output()}`);
    const { done, failures, slowest } = JSON.parse(line[1]!) as { done: number; failures: TcpSample[]; slowest: number };
    console.log(`\n## rolling update, start-first, of ${ROLLING_REPLICAS} replicas on 3 hosts, ${ROLLING_CONCURRENCY} connection loops to its VIP from h${h1.index}`);
    row('replaced in', s(tookMs));
    row('requests dropped during the update', `${failures.length} of ${done + failures.length}${failures.length ? `: ${failures.map((f) => `${f.error} at ${s(f.at! - since)}`).join(', ')}` : ' (goal: 0)'}`);
    row('slowest answered request', ms(slowest));
    recordMetric('discovery.rolling_update_dropped', failures.length, 'requests', { replicas: ROLLING_REPLICAS, answered: done, order: 'start-first' });
  } finally {
    writeFileSync(stopFile, '');
    await loop.stop('SIGKILL');
    rmSync(stopFile, { force: true });
  }
}

export async function run(): Promise<void> {
  console.log('\n# discovery: 3 hosts, the control plane on the quick liveness of the tests');
  await withHostCluster(3, {}, async (cluster) => {
    const svc = await deploy(cluster);
    console.log(`${svc.api}: tasks ${cluster.hosts.map((h) => `h${h.index} ${svc.tasks.get(h.name)!.addr}`).join(', ')}; VIP ${svc.vip}`);
    await dnsLatency(cluster, svc);
    await vipVersusDirect(cluster, svc);
    await answerChanges(cluster, svc);
    await rollingUpdate(cluster, svc);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
