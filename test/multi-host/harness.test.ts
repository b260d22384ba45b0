import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/docker-cli.ts';
import { run, runIn } from '../harness/hosts/command.ts';
import { type TestHost, useHostCluster } from '../harness/hosts/cluster.ts';
import { TEST_IMAGE } from '../harness/hosts/engine.ts';
import { pingFromContainer, pingFromHost, udpReaches } from '../harness/hosts/probe.ts';
import { serveOutsideNames } from '../harness/hosts/dns-upstream.ts';
import { daemonSocketsOf } from '../harness/hosts/processes.ts';
import { runLeftovers } from '../harness/hosts/teardown.ts';
import { fetchOnce } from '../ingress/mesh-client.ts';
import { HEDGE_MS } from '../../agent/ingress-backends.ts';
import { TASK_FILES_ROOT } from '../../agent/executor/task-files.ts';
import { filesHolding } from '../harness/files.ts';
import { multiHostStack } from './stack-compose.ts';

/**
 * The multi-host harness, proved on itself: three namespaces with their own engines and real
 * agents, one control plane, the docker CLI. The describe blocks share the one cluster and run in
 * order (a killed host stays killed for the blocks after it); the last one tears it down.
 */
const cluster = useHostCluster(3);

/**
 * `docker node inspect` of every worker: hostname, address and state, by hostname. Workers only:
 * the control plane lists itself as the one manager (hostname control-plane, drained).
 */
async function nodes(): Promise<Map<string, { id: string; addr: string; state: string }>> {
  const ls = await cluster.docker(['node', 'ls', '--quiet', '--filter', 'role=worker']);
  expect(ls.code, ls.stderr).toBe(0);
  const ids = ls.stdout.split('\n').filter(Boolean);
  const inspect = await cluster.docker(['node', 'inspect', '--format', '{{.ID}} {{.Description.Hostname}} {{.Status.Addr}} {{.Status.State}}', ...ids]);
  expect(inspect.code, inspect.stderr).toBe(0);
  const found = new Map<string, { id: string; addr: string; state: string }>();
  for (const line of inspect.stdout.split('\n').filter(Boolean)) {
    const [id, hostname, addr, state] = line.split(' ');
    found.set(hostname!, { id: id!, addr: addr!, state: state! });
  }
  return found;
}

const nodeState = async (host: TestHost) => (await nodes()).get(host.name)?.state;

/** The service's running containers on one host's own engine. */
async function runningOn(host: TestHost, service: string) {
  return host.engine.listContainers({ filters: { label: [`com.docker.swarm.service.name=${service}`], status: ['running'] } });
}

/** Live processes whose whole command line is `cmdline` (NUL-separated), read from /proc. */
function processesRunning(cmdline: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, 'latin1') === cmdline;
    } catch {
      return false;
    }
  });
}

async function scale(service: string, replicas: number) {
  const res = await cluster.docker(['service', 'scale', '--detach', `${service}=${replicas}`]);
  expect(res.code, res.stderr).toBe(0);
}

describe('three hosts', () => {
  it('start in parallel within a minute (the time is printed for the record)', () => {
    console.log(`multi-host harness: ${cluster.hosts.length} hosts up and joined in ${cluster.startupMs} ms (run ${cluster.prefix})`, cluster.startupPhases);
    expect(cluster.hosts).toHaveLength(3);
    expect(cluster.startupMs).toBeLessThan(60_000);
  });

  it('are 3 Ready nodes in `docker node ls`, each with its own address', async () => {
    await eventually(async () => [...(await nodes()).values()].filter((n) => n.state === 'ready').length === 3, 20_000);
    const found = await nodes();
    expect(found.size).toBe(3);
    for (const host of cluster.hosts) expect(found.get(host.name)).toEqual({ id: host.nodeId, addr: host.addr, state: 'ready' });
    const ls = await cluster.docker(['node', 'ls', '--filter', 'role=worker', '--format', '{{.Hostname}} {{.Status}}']);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(cluster.hosts.map((h) => `${h.name} Ready`).sort());
  });

  it('have no route off the bridge, and the run guards the root namespace', async () => {
    for (const host of cluster.hosts) {
      // No default route: anything a host or its containers send elsewhere fails before it is sent.
      const out = await run('ip', ['-n', host.name, 'route', 'get', '192.0.2.1']);
      expect(out.code, out.stdout).not.toBe(0);
      expect(out.stderr).toMatch(/unreachable/i);
    }
    const forward = await run('iptables', ['-w', '10', '-S', 'FORWARD']);
    expect(forward.stdout).toContain(`-A FORWARD -j ${cluster.names!.chains.forward}`);
  });
});

describe('the network between hosts', () => {
  it('every host reaches every other by address, from its namespace and from a container', async () => {
    const [h1, h2, h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    for (const [from, to] of [[h1, h2], [h2, h3], [h3, h1], [h2, h1], [h3, h2], [h1, h3]] as const) {
      expect(await pingFromHost(from, to.addr), `${from.name} → ${to.name}`).toBe(true);
    }
    expect(await pingFromContainer(h1, h2.addr)).toBe(true);
    expect(await pingFromContainer(h3, h1.addr)).toBe(true);
  });

  it('a partition cuts a host off both ways and from the control plane; a heal restores it', async () => {
    const [h1, h2, h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    await cluster.partition(h2);
    try {
      expect(await pingFromHost(h1, h2.addr)).toBe(false);
      expect(await pingFromHost(h2, h3.addr)).toBe(false);
      expect(await pingFromContainer(h3, h2.addr)).toBe(false);
      expect(await pingFromHost(h1, h3.addr)).toBe(true);
      await eventually(async () => (await nodeState(h2)) === 'down', 20_000);
    } finally {
      await cluster.heal(h2);
    }
    expect(await pingFromHost(h1, h2.addr)).toBe(true);
    expect(await pingFromHost(h2, h3.addr)).toBe(true);
    await eventually(async () => (await nodeState(h2)) === 'ready', 40_000);
  }, 90_000);

  it('a one-way partition drops only that direction', async () => {
    const [h1, h2] = cluster.hosts as [TestHost, TestHost];
    expect(await udpReaches(h1, h2)).toBe(true);
    expect(await udpReaches(h2, h1)).toBe(true);
    await cluster.partition(h2, 'out');
    try {
      expect(await udpReaches(h1, h2)).toBe(true);
      expect(await udpReaches(h2, h1)).toBe(false);
      await cluster.partition(h2, 'in');
      expect(await udpReaches(h1, h2)).toBe(false);
      expect(await udpReaches(h2, h1)).toBe(true);
    } finally {
      await cluster.heal(h2);
    }
    expect(await udpReaches(h1, h2)).toBe(true);
    expect(await udpReaches(h2, h1)).toBe(true);
  });
});

/** The one running container of a service on a host's own engine, and its address on the service's overlay network. */
async function taskOn(host: TestHost, service: string): Promise<{ id: string; addr: string }> {
  const [c] = await runningOn(host, service);
  expect(c, `${service} on ${host.name}`).toBeDefined();
  const addr = Object.entries(c!.NetworkSettings?.Networks ?? {}).find(([name]) => name.startsWith('swarmlet-'))?.[1].IPAddress ?? '';
  return { id: c!.Id, addr };
}

/** `nc` from a task's container (busybox's wget crashes here): what the server answered, or '' on failure. */
async function ncFrom(host: TestHost, containerId: string, addr: string): Promise<string> {
  const res = await cluster.hostDocker(host, ['exec', containerId, 'nc', '-w', '3', addr, '8080'], 20_000);
  return res.code === 0 ? res.stdout.trim() : '';
}

/**
 * Waits until `name` answers `expected` to a container on `host` within `timeoutMs`; if it never does,
 * fails with what the host had: the name's answer in the container, the host's WireGuard peers,
 * its VIP rules and the agent's warnings (a rare failure of the db move is found from these).
 */
async function reachesByName(host: TestHost, containerId: string, name: string, expected: string, timeoutMs = 20_000): Promise<void> {
  try {
    await eventually(async () => (await ncFrom(host, containerId, name)) === expected, timeoutMs);
  } catch (err) {
    const lookup = await cluster.hostDocker(host, ['exec', containerId, 'nslookup', name], 10_000);
    const wg = await runIn(host.name, 'wg', ['show', host.wireguardInterface]);
    const nat = await runIn(host.name, 'iptables-save', ['-t', 'nat']);
    const warnings = (host.agent?.output() ?? '').split('\n').filter((l) => /WARN|ERROR/.test(l)).slice(-20);
    throw new Error(
      [`${(err as Error).message}: ${name} did not answer from ${host.name}`, `nslookup ${name}: ${lookup.stdout}${lookup.stderr}`, `wg: ${wg.stdout}`, `nat: ${nat.stdout.split('\n').filter((l) => /swarmlet|DNAT/i.test(l)).join('\n')}`, `agent warnings:\n${warnings.join('\n')}`].join('\n---\n'),
    );
  }
}

/** Seconds since the last WireGuard handshake with each peer of the host's interface (none: no entry). */
async function handshakeAges(host: TestHost): Promise<number[]> {
  const res = await runIn(host.name, 'wg', ['show', host.wireguardInterface, 'latest-handshakes']);
  expect(res.code, res.stderr).toBe(0);
  const now = Date.now() / 1000;
  return res.stdout.split('\n').filter(Boolean).map((l) => Number(l.split('\t')[1])).filter((t) => t > 0).map((t) => now - t);
}

describe('overlay networks across hosts', () => {
  const front = () => `${cluster.prefix}-front`;
  const back = () => `${cluster.prefix}-back`;
  const listener = ['nc', '-ll', '-p', '8080', '-e', 'echo', 'hi'];

  async function spreadService(name: string, network: string) {
    const res = await cluster.docker(['service', 'create', '--detach', '--name', name, '--replicas', '3', '--network', network, TEST_IMAGE, ...listener]);
    expect(res.code, res.stderr).toBe(0);
    await eventually(async () => (await Promise.all(cluster.hosts.map((h) => runningOn(h, name)))).every((c) => c.length === 1), 60_000);
  }

  it('a task on host 1 reaches the task on host 3 by its address, encrypted through WireGuard', async () => {
    const [h1, , h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    await eventually(async () => [...(await nodes()).values()].every((n) => n.state === 'ready'), 40_000);
    for (const net of [front(), back()]) expect((await cluster.docker(['network', 'create', '-d', 'overlay', net])).code).toBe(0);
    await spreadService(front(), front());
    const subnet = (await cluster.docker(['network', 'inspect', '--format', '{{(index .IPAM.Config 0).Subnet}}', front()])).stdout.trim();
    const [from, to] = [await taskOn(h1, front()), await taskOn(h3, front())];
    expect(to.addr.split('.').slice(0, 3).join('.')).toBe(subnet.split('.').slice(0, 3).join('.'));
    // The first packets wait for the peers and routes of the next assignments answer.
    expect(await eventually(async () => (await ncFrom(h1, from.id, to.addr)) === 'hi', 30_000)).toBeTruthy();
    // On the wire between the hosts: WireGuard's UDP to the mesh port, never a task address.
    const port = (await cluster.docker(['info', '--format', '{{.Swarm.Cluster.DataPathPort}}'])).stdout.trim();
    const tunnelled = await cluster.countBetweenHosts(['-p', 'udp', '--dport', port]);
    const plain = await cluster.countBetweenHosts(['-s', subnet]);
    const plainBack = await cluster.countBetweenHosts(['-d', subnet]);
    const ping = await cluster.hostDocker(h1, ['exec', from.id, 'ping', '-c', '3', '-W', '2', to.addr]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(await tunnelled()).toBeGreaterThanOrEqual(3);
    expect([await plain(), await plainBack()]).toEqual([0, 0]);
    console.log(`overlay: ${h1.name} task → ${h3.name} task ${to.addr}: ${/round-trip.*$/m.exec(ping.stdout)?.[0]}`);
    for (const host of [h1, h3]) {
      const ages = await handshakeAges(host);
      console.log(`overlay: ${host.name} handshake ages (s): ${ages.map((a) => a.toFixed(1)).join(' ')}`);
      expect(ages.length).toBeGreaterThan(0);
      expect(Math.min(...ages)).toBeLessThan(120);
    }
  }, 120_000);

  it('a task on another overlay network cannot reach it, and reaches its own network\'s tasks', async () => {
    const [h1, , h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    await spreadService(back(), back());
    const [other, ownPeer, target] = [await taskOn(h1, back()), await taskOn(h3, back()), await taskOn(h3, front())];
    // The mesh works for back (so a failure below is isolation, not a broken tunnel)...
    expect(await eventually(async () => (await ncFrom(h1, other.id, ownPeer.addr)) === 'hi', 30_000)).toBeTruthy();
    // ...and h1 and h3 are peers for both networks, so only the rules keep back away from front.
    expect(await ncFrom(h1, other.id, target.addr)).toBe('');
    const ping = await cluster.hostDocker(h1, ['exec', other.id, 'ping', '-c', '2', '-W', '1', target.addr]);
    expect(ping.code).not.toBe(0);
  }, 120_000);

  it('a task on an overlay reaches addresses outside it through its host, masqueraded (as docker_gwbridge does)', async () => {
    const h1 = cluster.host(1);
    const from = await taskOn(h1, front());
    // The control plane, in the root namespace on the bridge: off every overlay, and with no route
    // back to a task address, so only a masqueraded connection gets its answer.
    const { hostname, port } = new URL(cluster.cp.url);
    // It speaks HTTPS, which busybox cannot: a completed connection (nc exits 0) is the answer that came back.
    const connect = `nc -w 3 ${hostname} ${port} </dev/null; echo "exit=$?"`;
    const res = await cluster.hostDocker(h1, ['exec', from.id, 'sh', '-c', connect], 20_000);
    expect(res.stdout, res.stderr).toContain('exit=0');
  }, 60_000);

  it('carries traffic to a host again after it was killed (its wireguard-go with it) and restarted', async () => {
    const [h1, , h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    await cluster.killHost(h3);
    await eventually(async () => (await nodeState(h3)) === 'down', 20_000);
    await cluster.restartHost(h3);
    await eventually(async () => (await nodeState(h3)) === 'ready', 30_000);
    // Its task was replaced elsewhere meanwhile; one more replica lands on the emptiest host, h3.
    await scale(front(), 4);
    await eventually(async () => (await runningOn(h3, front())).length === 1, 60_000);
    const [from, to] = [await taskOn(h1, front()), await taskOn(h3, front())];
    expect(await eventually(async () => (await ncFrom(h1, from.id, to.addr)) === 'hi', 30_000)).toBeTruthy();
  }, 150_000);

  it('leaves no network or interface on a host once its overlay tasks are gone', async () => {
    const h1 = cluster.host(1);
    expect((await cluster.docker(['service', 'rm', front(), back()])).code).toBe(0);
    await eventually(async () => (await h1.engine.listNetworks({ filters: { label: ['swarmlet.mesh.node.id'] } })).length === 0, 60_000);
    await eventually(async () => (await runIn(h1.name, 'ip', ['link', 'show', 'dev', h1.wireguardInterface])).code !== 0, 30_000);
    expect((await cluster.docker(['network', 'rm', front(), back()])).code).toBe(0);
  }, 90_000);
});

/** What busybox nslookup in a task's container says of a name (the test image has no nslookup link): its addresses, or that it was not found. */
async function nslookup(host: TestHost, containerId: string, name: string): Promise<{ addresses: string[]; notFound: boolean; output: string }> {
  const res = await cluster.hostDocker(host, ['exec', containerId, 'busybox', 'nslookup', name], 20_000);
  const output = res.stdout + res.stderr;
  // The server's own line is `Address:\t127.0.0.11:53`; answers are `Address: 10.0.1.5`.
  const addresses = [...output.matchAll(/^Address: (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]!).sort();
  return { addresses, notFound: /NXDOMAIN/.test(output), output };
}

/** The addresses of a service's running tasks on every up host, from the hosts' own engines. */
async function taskAddresses(service: string): Promise<string[]> {
  const perHost = await Promise.all(cluster.hosts.filter((h) => h.up).map((h) => runningOn(h, service)));
  return perHost
    .flat()
    .map((c) => Object.entries(c.NetworkSettings?.Networks ?? {}).find(([name]) => name.startsWith('swarmlet-'))?.[1].IPAddress ?? '')
    .sort();
}

/** A service's virtual IP on a network, from `docker service inspect`. */
async function virtualIpOf(service: string, network: string): Promise<string> {
  const id = (await cluster.docker(['network', 'inspect', '--format', '{{.Id}}', network])).stdout.trim();
  const res = await cluster.docker(['service', 'inspect', '--format', '{{json .Endpoint.VirtualIPs}}', service]);
  const vips = JSON.parse(res.stdout) as Array<{ NetworkID: string; Addr: string }>;
  return vips.find((v) => v.NetworkID === id)!.Addr.split('/')[0]!;
}

/** Asks until `done` holds for the answer (every ~100 ms, at most `ms`); answers how long that took. */
async function timeUntil(ask: () => Promise<{ addresses: string[] }>, done: (addresses: string[]) => boolean, ms = 10_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (done((await ask()).addresses)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the answer did not change within ${ms} ms`);
}

describe('service discovery across hosts', () => {
  const net = () => `${cluster.prefix}-dns`;
  const otherNet = () => `${cluster.prefix}-dns-other`;
  const api = () => `${cluster.prefix}-api`;
  const client = () => `${cluster.prefix}-client`;
  const stranger = () => `${cluster.prefix}-stranger`;
  const rr = () => `${cluster.prefix}-rr`;
  const checked = () => `${cluster.prefix}-checked`;
  const outsideName = () => `outside.${cluster.prefix}.test`;
  let outside: Awaited<ReturnType<typeof serveOutsideNames>> | undefined;
  /** The client task on a host (the service is global: one per host). */
  const clientOn = async (host: TestHost) => (await taskOn(host, client())).id;

  afterAll(async () => {
    await outside?.close();
  });

  it('resolves tasks.<service> and an alias to the running tasks on all hosts, and <service> to its virtual IP, from every host', async () => {
    await eventually(async () => [...(await nodes()).values()].every((n) => n.state === 'ready'), 40_000);
    outside = await serveOutsideNames(cluster.names!.gateway, 53, { [outsideName()]: '192.0.2.77' });
    for (const n of [net(), otherNet()]) expect((await cluster.docker(['network', 'create', '-d', 'overlay', n])).code).toBe(0);
    const create = async (args: string[]) => expect((await cluster.docker(['service', 'create', '--detach', ...args])).stderr).toBe('');
    // Each task answers a TCP connection on 8080 with its container's hostname (its ID).
    await create(['--name', api(), '--replicas', '3', '--network', `name=${net()},alias=backend`, TEST_IMAGE, 'nc', '-ll', '-p', '8080', '-e', 'hostname']);
    await create(['--name', client(), '--mode', 'global', '--network', net(), TEST_IMAGE, 'sleep', '3600']);
    await create(['--name', stranger(), '--replicas', '1', '--network', otherNet(), TEST_IMAGE, 'sleep', '3600']);
    await eventually(async () => (await Promise.all(cluster.hosts.map((h) => runningOn(h, client())))).every((c) => c.length === 1), 60_000);
    await eventually(async () => (await taskAddresses(api())).length === 3, 60_000);
    const expected = await taskAddresses(api());
    const vip = await virtualIpOf(api(), net());
    for (const host of cluster.hosts) {
      const id = await clientOn(host);
      const tasks = await eventually(async () => {
        const r = await nslookup(host, id, `tasks.${api()}`);
        return r.addresses.length === 3 ? r : undefined;
      }, 20_000);
      expect(tasks.addresses, `${host.name}: ${tasks.output}`).toEqual(expected);
      expect((await nslookup(host, id, api())).addresses).toEqual([vip]);
      expect((await nslookup(host, id, 'BACKEND')).addresses).toEqual(expected);
    }
    console.log(`dns: tasks.${api()} from every host → ${expected.join(' ')}; ${api()} → ${vip}`);
  }, 150_000);

  it('balances connections to the service name (its virtual IP) over the tasks on all three hosts, from every host', async () => {
    const tasks = new Set((await Promise.all(cluster.hosts.map((h) => runningOn(h, api())))).flat().map((c) => c.Id.slice(0, 12)));
    for (const host of cluster.hosts) {
      const id = await clientOn(host);
      const seen = new Set<string>();
      // The first connections may wait for the host's next assignments answer (peers, routes, rules).
      await eventually(async () => tasks.has((await ncFrom(host, id, api())).slice(0, 12)), 30_000);
      for (let i = 0; i < 40 && seen.size < 3; i++) seen.add((await ncFrom(host, id, api())).slice(0, 12));
      // Random per connection: 40 tries miss one of three tasks with a chance of 3·(2/3)^40 < 1e-6.
      expect(seen.size, `${host.name} reached ${[...seen].join(' ')}`).toBe(3);
      for (const who of seen) expect(tasks).toContain(who);
    }
  }, 120_000);

  it('loses no connection to the service name while a start-first update replaces every task', async () => {
    const h1 = cluster.host(1);
    const id = await clientOn(h1);
    // Connections one after another from the client for 25 s: each must be answered by a task.
    const loop = 'ok=0; failed=0; end=$(($(date +%s)+25)); while [ $(date +%s) -lt $end ]; do ' +
      `if [ -n "$(nc -w 10 ${api()} 8080)" ]; then ok=$((ok+1)); else failed=$((failed+1)); fi; done; echo $ok $failed`;
    const counting = cluster.hostDocker(h1, ['exec', id, 'sh', '-c', loop], 60_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const before = new Set((await Promise.all(cluster.hosts.map((h) => runningOn(h, api())))).flat().map((c) => c.Id));
    const update = await cluster.docker(['service', 'update', '--detach', '--force', '--update-order', 'start-first', api()]);
    expect(update.code, update.stderr).toBe(0);
    await eventually(async () => {
      const now = (await Promise.all(cluster.hosts.map((h) => runningOn(h, api())))).flat();
      return now.length === 3 && now.every((c) => !before.has(c.Id));
    }, 60_000);
    const result = await counting;
    const [ok, failed] = result.stdout.trim().split(' ').map(Number);
    console.log(`vip: ${ok} connections answered, ${failed} failed while every task of ${api()} was replaced (start-first)`);
    expect(result.code, result.stderr).toBe(0);
    expect(ok).toBeGreaterThan(20);
    // A stopping task runs until every host has let it go (a fixed 1 s drain lost 0–2 of 300–900 under
    // load), and a new one on another host joins the VIP once the path to it is there. A connection
    // waits up to 10 s (nc -w): on a loaded machine a SYN may be lost twice; that is slow, not lost.
    expect(failed).toBe(0);
  }, 120_000);

  it('does not find a service for a task on a network it does not share', async () => {
    const host = cluster.hosts.find((h) => h.up)!;
    const [owner] = (await Promise.all(cluster.hosts.map(async (h) => ((await runningOn(h, stranger())).length ? h : undefined)))).filter(Boolean);
    const id = (await taskOn(owner!, stranger())).id;
    for (const name of [api(), `tasks.${api()}`, 'backend']) {
      const r = await nslookup(owner!, id, name);
      expect(r.addresses, r.output).toEqual([]);
      expect(r.notFound, r.output).toBe(true);
    }
    // While the client on the same network resolves it.
    expect((await nslookup(host, await clientOn(host), api())).addresses).toHaveLength(1);
  }, 60_000);

  it('forwards other names to the host\'s own resolver', async () => {
    const h2 = cluster.host(2);
    const r = await nslookup(h2, await clientOn(h2), outsideName());
    expect(r.addresses, r.output).toEqual(['192.0.2.77']);
    expect(outside!.asked).toContain(outsideName());
    expect((await nslookup(h2, await clientOn(h2), `nothing.${cluster.prefix}.test`)).notFound).toBe(true);
  }, 60_000);

  it('follows scaling and a stopped task within about a second (measured and printed)', async () => {
    const h1 = cluster.host(1);
    const id = await clientOn(h1);
    const ask = () => nslookup(h1, id, `tasks.${api()}`);
    await scale(api(), 5);
    // From the command: the new containers are created and started first, then reported running.
    const up = await timeUntil(ask, (a) => a.length === 5, 60_000);
    await scale(api(), 1);
    const down = await timeUntil(ask, (a) => a.length === 1);
    const left = await eventually(async () => {
      const list = await taskAddresses(api());
      return list.length === 1 ? list : undefined;
    }, 30_000);
    expect((await ask()).addresses).toEqual(left);
    // A task whose container stops (here: by hand, on its host's engine) leaves the answers.
    await scale(api(), 2);
    await timeUntil(ask, (a) => a.length === 2, 60_000);
    const [victimHost, victim] = (await Promise.all(cluster.hosts.map(async (h) => [h, (await runningOn(h, api()))[0]] as const))).find(([, c]) => c)!;
    const victimAddr = Object.entries(victim!.NetworkSettings?.Networks ?? {}).find(([name]) => name.startsWith('swarmlet-'))![1].IPAddress;
    expect((await cluster.hostDocker(victimHost, ['stop', victim!.Id])).code).toBe(0);
    const stopped = await timeUntil(ask, (a) => !a.includes(victimAddr));
    console.log(`dns: tasks.${api()} changed ${up} ms after scale 3→5 (containers started meanwhile), ${down} ms after scale 5→1, ${stopped} ms after docker stop of a task on ${victimHost.name} (each poll is one docker exec nslookup, ~100-200 ms)`);
    // The goal is 2 s (met at 0.3-0.9 s here); 3 s leaves room for a CI machine busy with the
    // other blocks' engines, without letting a regression to the old lag (seconds) pass.
    expect(down).toBeLessThan(3_000);
    expect(stopped).toBeLessThan(3_000);
  }, 180_000);

  it('keeps answering on a host the control plane cannot reach', async () => {
    const h2 = cluster.host(2);
    const id = await clientOn(h2);
    const before = await nslookup(h2, id, `tasks.${api()}`);
    expect(before.addresses.length).toBeGreaterThan(0);
    // Both ways: a one-way cut still lets the control plane's answers in on the open long-poll, and
    // with h2 marked down they would stop its tasks.
    await cluster.partition(h2, 'both');
    try {
      await eventually(async () => (await nodeState(h2)) === 'down', 20_000);
      const during = await nslookup(h2, id, `tasks.${api()}`);
      expect(during.addresses, during.output).toEqual(before.addresses);
      expect((await nslookup(h2, id, 'backend')).addresses).toEqual(before.addresses);
    } finally {
      await cluster.heal(h2);
    }
    await eventually(async () => (await nodeState(h2)) === 'ready', 40_000);
  }, 90_000);

  it('answers a dnsrr service with its tasks\' addresses, and leaves out a replica that turns unhealthy', async () => {
    const h1 = cluster.host(1);
    const id = await clientOn(h1);
    const create = async (args: string[]) => expect((await cluster.docker(['service', 'create', '--detach', ...args])).stderr).toBe('');
    await create(['--name', rr(), '--replicas', '2', '--endpoint-mode', 'dnsrr', '--network', net(), TEST_IMAGE, 'sleep', '3600']);
    await create(['--name', checked(), '--replicas', '3', '--network', net(), '--health-cmd', 'test ! -f /tmp/sick', '--health-interval', '1s',
      '--health-retries', '1', '--restart-condition', 'none', TEST_IMAGE, 'nc', '-ll', '-p', '8080', '-e', 'hostname']);
    await eventually(async () => (await taskAddresses(rr())).length === 2 && (await taskAddresses(checked())).length === 3, 60_000);
    const rrTasks = await taskAddresses(rr());
    await eventually(async () => JSON.stringify((await nslookup(h1, id, rr())).addresses) === JSON.stringify(rrTasks), 20_000);
    // Healthy, the three take connections; then one is made sick on its own host.
    await eventually(async () => (await nslookup(h1, id, `tasks.${checked()}`)).addresses.length === 3, 30_000);
    const [sickHost, sick] = (await Promise.all(cluster.hosts.map(async (h) => [h, (await runningOn(h, checked()))[0]] as const))).find(([, c]) => c)!;
    const sickAddr = Object.entries(sick!.NetworkSettings?.Networks ?? {}).find(([name]) => name.startsWith('swarmlet-'))![1].IPAddress;
    expect((await cluster.hostDocker(sickHost, ['exec', sick!.Id, 'sh', '-c', ': > /tmp/sick'])).code).toBe(0);
    const gone = await timeUntil(() => nslookup(h1, id, `tasks.${checked()}`), (a) => a.length === 2 && !a.includes(sickAddr), 20_000);
    const answered = new Set<string>();
    for (let i = 0; i < 15; i++) answered.add((await ncFrom(h1, id, checked())).slice(0, 12));
    console.log(`dns: an unhealthy replica left tasks.${checked()} ${gone} ms after it was seen sick`);
    expect(answered).not.toContain(sick!.Id.slice(0, 12));
    expect(answered.size).toBe(2);
  }, 120_000);

  it('drops a killed host\'s tasks from the answers once it is down, and takes them again when it is back', async () => {
    const [h1, , h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    const id = await clientOn(h1);
    const onH3 = (await runningOn(h3, api())).map((c) => Object.entries(c.NetworkSettings?.Networks ?? {}).find(([name]) => name.startsWith('swarmlet-'))![1].IPAddress);
    expect(onH3.length).toBeGreaterThan(0);
    await cluster.killHost(h3);
    try {
      const gone = await timeUntil(() => nslookup(h1, id, `tasks.${api()}`), (a) => a.length > 0 && onH3.every((addr) => !a.includes(addr)), 20_000);
      console.log(`dns: a killed host's tasks left tasks.${api()} ${gone} ms after the kill (the node is marked down after 3 missed 1 s heartbeats here)`);
    } finally {
      await cluster.restartHost(h3);
    }
    await eventually(async () => (await nodeState(h3)) === 'ready', 40_000);
  }, 120_000);

  it('leaves no service, network or interface of its own behind', async () => {
    expect((await cluster.docker(['service', 'rm', api(), client(), stranger(), rr(), checked()])).code).toBe(0);
    for (const host of cluster.hosts) {
      await eventually(async () => (await host.engine.listNetworks({ filters: { label: ['swarmlet.mesh.node.id'] } })).length === 0, 60_000);
      await eventually(async () => (await runIn(host.name, 'ip', ['link', 'show', 'dev', host.wireguardInterface])).code !== 0, 30_000);
    }
    expect((await cluster.docker(['network', 'rm', net(), otherNet()])).code).toBe(0);
  }, 120_000);
});

describe('the routing mesh across hosts', () => {
  const web = () => `${cluster.prefix}-pub`;
  const PORT = 18080;
  const httpd = ['sh', '-c', 'echo $HOSTNAME > /www/x; httpd -f -p 80 -h /www'];
  /** Who answered GET /x on a host's published port (the task's container hostname), and how long it took. */
  async function ask(host: TestHost): Promise<{ who: string; ms: number }> {
    const t0 = Date.now();
    const who = await fetchOnce(host.addr, PORT, { timeoutMs: 5_000 }).catch(() => '');
    return { who, ms: Date.now() - t0 };
  }

  it('answers the published port on every host, from tasks on other hosts, over WireGuard only', async () => {
    const [h1, h2, h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    await eventually(async () => [...(await nodes()).values()].every((n) => n.state === 'ready'), 40_000);
    // Two tasks, neither on h1: h1 serves the port from the others' tasks alone.
    const res = await cluster.docker(['service', 'create', '--detach', '--name', web(), '--replicas', '2', '--constraint', `node.hostname!=${h1.name}`,
      '-p', `${PORT}:80`, TEST_IMAGE, ...httpd]);
    expect(res.code, res.stderr).toBe(0);
    await eventually(async () => (await runningOn(h2, web())).length === 1 && (await runningOn(h3, web())).length === 1, 60_000);
    const tasks = new Set([...(await runningOn(h2, web())), ...(await runningOn(h3, web()))].map((c) => c.Id.slice(0, 12)));
    const subnet = (await cluster.docker(['network', 'inspect', '--format', '{{(index .IPAM.Config 0).Subnet}}', 'ingress'])).stdout.trim();
    const port = (await cluster.docker(['info', '--format', '{{.Swarm.Cluster.DataPathPort}}'])).stdout.trim();
    const tunnelled = await cluster.countBetweenHosts(['-p', 'udp', '--dport', port]);
    const plain = [await cluster.countBetweenHosts(['-s', subnet]), await cluster.countBetweenHosts(['-d', subnet]), await cluster.countBetweenHosts(['-p', 'tcp', '--dport', String(PORT)])];
    // The first connections wait for h1's peers and routes from its next assignments answer.
    await eventually(async () => tasks.has((await ask(h1)).who), 30_000);
    const seen = new Set<string>();
    for (const host of [h1, h1, h1, h1, h2, h3]) seen.add((await ask(host)).who);
    expect(seen).toEqual(tasks);
    expect(await tunnelled()).toBeGreaterThan(0);
    expect(await Promise.all(plain.map((count) => count()))).toEqual([0, 0, 0]);
  }, 120_000);

  it('stops sending to a host it cannot reach within a second, long before the host is marked down', async () => {
    const [h1, h2, h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    const [onH2] = await runningOn(h2, web());
    const reachable = onH2!.Id.slice(0, 12);
    await cluster.partition(h3, 'both');
    try {
      // 2 s, all before the control plane could mark h3 down: the harness's 1 s × 3 heartbeats,
      // less up to half a period since h3 was last heard, and the last request's time. (2.5 s
      // was too close: h3 was marked down at the heal now and then, its tasks replaced, and it was
      // still coming back when the next test placed its stack.)
      const t0 = Date.now();
      const answers: Array<{ at: number; who: string; ms: number }> = [];
      while (Date.now() - t0 < 2_000) answers.push({ at: Date.now() - t0, ...(await ask(h1)) });
      console.log(`routing mesh: h3 cut off; requests through h1 (start ms: took ms): ${answers.map((a) => `${a.at}:${a.ms}`).join(' ')}`);
      // Every request is answered, by the task h1 can still reach; none waits on the lost host.
      expect(answers.every((a) => a.who === reachable)).toBe(true);
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(1_000);
      // From a second on, the lost host costs nothing: were it still tried in turn, every other
      // request would wait the hedge delay before the reachable task was tried beside it.
      const late = answers.filter((a) => a.at >= 1_000).map((a) => a.ms);
      expect(late.length).toBeGreaterThan(4);
      expect(late.filter((ms) => ms >= HEDGE_MS).length).toBeLessThanOrEqual(Math.floor(late.length / 5));
    } finally {
      await cluster.heal(h3);
    }
    // Healed: h3's task (or its replacement) takes connections again.
    await eventually(async () => [...(await Promise.all([ask(h1), ask(h1), ask(h1)]))].some((a) => a.who !== reachable && a.who !== ''), 30_000);
    expect((await cluster.docker(['service', 'rm', web()])).code).toBe(0);
  }, 90_000);
});

/** A stack's running containers on every up host: service (its short name) → where each runs and its task. */
async function stackTasks(stack: string): Promise<Map<string, Array<{ host: TestHost; id: string; taskId: string }>>> {
  const found = new Map<string, Array<{ host: TestHost; id: string; taskId: string }>>();
  for (const host of cluster.hosts.filter((h) => h.up && h.agent)) {
    const containers = await host.engine.listContainers({ filters: { label: [`com.docker.stack.namespace=${stack}`], status: ['running'] } });
    for (const c of containers) {
      const service = c.Labels['com.docker.swarm.service.name']!.slice(stack.length + 1);
      (found.get(service) ?? found.set(service, []).get(service)!).push({ host, id: c.Id, taskId: c.Labels['com.docker.swarm.task.id']! });
    }
  }
  return found;
}

/** Whether the agent's tmpfs with a task's secrets and configs is still there (the hosts share the root mount namespace). */
function taskFilesPresent(taskId: string): boolean {
  const dir = join(TASK_FILES_ROOT, taskId);
  return existsSync(dir) || readFileSync('/proc/mounts', 'utf8').includes(` ${dir} `);
}

describe('a stack with a secret and a config across hosts', () => {
  const stack = () => `${cluster.prefix}st`;
  const SECRET = `pw-${Math.random().toString(36).slice(2)}`;
  const CONFIG = `max_connections ${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), 'multi-host-stack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** Every answer the CLI printed in this block: the secret must be in none. */
  const answers: string[] = [];
  /** Every task of the stack seen running, so its files can be checked gone at the end. */
  const seenTasks = new Set<string>();

  async function cli(args: string[]) {
    const res = await cluster.docker(args, 120_000);
    answers.push(res.stdout, res.stderr);
    expect(res.code, `docker ${args.join(' ')}: ${res.stderr}`).toBe(0);
    return res.stdout;
  }
  function deploy(dbAvoids?: string) {
    const files = { secretFile: join(dir, 'password'), configFile: join(dir, 'db.conf'), dbAvoids };
    writeFileSync(files.secretFile, SECRET);
    writeFileSync(files.configFile, `${CONFIG}\n`);
    writeFileSync(join(dir, 'stack.yml'), multiHostStack(files));
    // Detached (the CLI's default): --detach=false would add its 5 s stability wait per service to the figures.
    return cli(['stack', 'deploy', '-c', join(dir, 'stack.yml'), stack()]);
  }
  /** Until web ×1, api ×3 (one a host) and db ×1 run, and db on a host other than `dbAvoids`. */
  async function converged(dbAvoids?: TestHost) {
    return eventually(async () => {
      const tasks = await stackTasks(stack());
      const [web, api, db] = [tasks.get('web') ?? [], tasks.get('api') ?? [], tasks.get('db') ?? []];
      if (web.length !== 1 || api.length !== 3 || new Set(api.map((t) => t.host)).size !== 3 || db.length !== 1 || db[0]!.host === dbAvoids) return undefined;
      for (const t of [...web, ...api, ...db]) seenTasks.add(t.taskId);
      return { web: web[0]!, api, db: db[0]! };
    }, 90_000, 250).catch(async (err: Error) => {
      const ps = await cluster.docker(['stack', 'ps', '--no-trunc', '--format', '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}', stack()]);
      const ls = await cluster.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}}']);
      const events = await cluster.docker(['events', '--since', '10m', '--until', '0s', '--filter', 'type=node', '--format', '{{.TimeNano}} {{.Actor.Attributes.name}} {{.Actor.Attributes}}']);
      const warned = (out: string) => out.split('\n').filter((l) => /WARN|ERROR/.test(l)).slice(-8).join('\n');
      const agents = cluster.hosts.map((h) => `${h.name}:\n${warned(h.agent?.output() ?? '')}`).join('\n');
      throw new Error(`${err.message}; the stack's tasks:\n${ps.stdout}${ps.stderr}; the nodes:\n${ls.stdout}${ls.stderr}; their events:\n${events.stdout}${events.stderr}; control plane:\n${warned(cluster.cp.output())}\nagents: ${agents}`);
    });
  }
  let first: Awaited<ReturnType<typeof converged>>;

  it('deploys with the real CLI and converges on the three hosts; the web tier reaches the API and the db by name', async () => {
    await eventually(async () => [...(await nodes()).values()].filter((n) => n.state === 'ready').length === 3, 40_000);
    const started = Date.now();
    await deploy();
    const deployedMs = Date.now() - started;
    first = await converged();
    console.log(`stack: deploy returned after ${deployedMs} ms, converged on ${cluster.hosts.length} hosts after ${Date.now() - started} ms`);
    const { web, db } = first;
    // By the name the stack gives each service on its network; the API's replicas answer from every
    // host. Nine connections in one exec: a docker exec each would cost more than the connections.
    const askApi = `for i in 1 2 3 4 5 6 7 8 9; do nc -w 3 api 8080; done`;
    const apiHosts = await eventually(async () => {
      const res = await cluster.hostDocker(web.host, ['exec', web.id, 'sh', '-c', askApi], 60_000);
      const who = new Set(res.stdout.split('\n').filter(Boolean));
      return who.size === 3 ? who : undefined;
    }, 30_000);
    expect([...apiHosts].sort()).toEqual(['api-1', 'api-2', 'api-3']);
    await reachesByName(web.host, web.id, 'db', CONFIG);
    expect(taskFilesPresent(db.taskId)).toBe(true);
  }, 150_000);

  it('a redeploy that moves the db off its host rolls the db alone, and that host no longer has its secret', async () => {
    const before = first;
    const started = Date.now();
    await deploy(before.db.host.name);
    const after = await converged(before.db.host);
    console.log(`stack: the db moved from ${before.db.host.name} to ${after.db.host.name} ${Date.now() - started} ms after the redeploy began`);
    expect(after.web.id).toBe(before.web.id);
    expect(after.api.map((t) => t.id).sort()).toEqual(before.api.map((t) => t.id).sort());
    expect(after.db.host).not.toBe(before.db.host);
    await eventually(async () => !taskFilesPresent(before.db.taskId), 30_000);
    expect(taskFilesPresent(after.db.taskId)).toBe(true);
    await reachesByName(after.web.host, after.web.id, 'db', CONFIG);
  }, 150_000);

  it('has its secret in no file of the control plane or the hosts (docker data roots), no log and no API answer', async () => {
    await cli(['service', 'inspect', `${stack()}_db`]);
    await cli(['secret', 'inspect', `${stack()}_password`]);
    await cli(['stack', 'ps', '--no-trunc', stack()]);
    await cli(['inspect', '--type', 'task', ...[...seenTasks]]);
    const dirs = [cluster.cp.dataDir, ...cluster.hosts.map((h) => h.dir)];
    // The scan sees what is there: the config's value, not secret, is in the database.
    expect(filesHolding([cluster.cp.dataDir], [`${CONFIG}\n`])).not.toEqual([]);
    expect(filesHolding(dirs, [SECRET])).toEqual([]);
    const logs = [cluster.cp.output(), ...cluster.hosts.map((h) => h.agent?.output() ?? ''), answers.join('\n')];
    for (const needle of [SECRET, Buffer.from(SECRET).toString('base64')]) expect(logs.filter((l) => l.includes(needle))).toEqual([]);
  }, 60_000);

  it('stack rm leaves no container, network, secret, config or task file behind on any host', async () => {
    const networkIds = (await cli(['network', 'ls', '--filter', `label=com.docker.stack.namespace=${stack()}`, '--format', '{{.ID}}'])).trim().split('\n');
    expect(networkIds).toHaveLength(1);
    const started = Date.now();
    await cli(['stack', 'rm', stack()]);
    const hosts = cluster.hosts.filter((h) => h.up && h.agent);
    const goneAt: Record<string, number> = {};
    const gone = (what: string, none: boolean) => {
      if (none) goneAt[what] ??= Date.now() - started;
      return none;
    };
    await eventually(async () => {
      const containers = await Promise.all(hosts.map((h) => h.engine.listContainers({ all: true, filters: { label: [`com.docker.stack.namespace=${stack()}`] } })));
      const networks = (await Promise.all(hosts.map((h) => h.engine.listNetworks()))).flat().filter((n) => networkIds.some((id) => n.Name.includes(id)));
      return [
        gone('containers', containers.flat().length === 0),
        gone('task files', [...seenTasks].every((t) => !taskFilesPresent(t))),
        gone('engine networks', networks.length === 0),
      ].every(Boolean);
    }, 60_000);
    console.log(`stack: rm left nothing on ${hosts.length} hosts (ms after rm began):`, goneAt);
    for (const kind of ['secret', 'config', 'network', 'service']) {
      expect(await cli([kind, 'ls', '--quiet', '--filter', `label=com.docker.stack.namespace=${stack()}`]), kind).toBe('');
    }
  }, 90_000);
});

describe('a service across hosts', () => {
  const service = () => `${cluster.prefix}-web`;

  it('of 6 replicas spreads 2/2/2, and each host runs its own on its own engine', async () => {
    const [h1, h2, h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    await eventually(async () => [...(await nodes()).values()].every((n) => n.state === 'ready'), 40_000);
    const res = await cluster.docker(['service', 'create', '--detach', '--name', service(), '--replicas', '6', TEST_IMAGE, 'sleep', '3600']);
    expect(res.code, res.stderr).toBe(0);
    await eventually(async () => (await Promise.all(cluster.hosts.map((h) => runningOn(h, service())))).every((c) => c.length === 2), 60_000);
    for (const host of [h1, h2, h3]) {
      const containers = await runningOn(host, service());
      // Each container on this engine is a task the control plane gave this host's node.
      expect(containers.map((c) => c.Labels['com.docker.swarm.node.id'])).toEqual([host.nodeId, host.nodeId]);
    }
    // The engines run the containers a moment before their agents' reports say so.
    const ps = await eventually(async () => {
      const r = await cluster.docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}', service()]);
      return r.stdout.split('\n').filter(Boolean).every((l) => / Running /.test(l)) ? r : undefined;
    }, 20_000);
    const perNode = new Map<string, number>();
    for (const line of ps.stdout.split('\n').filter(Boolean)) {
      expect(line).toMatch(/ Running /);
      perNode.set(line.split(' ')[0]!, (perNode.get(line.split(' ')[0]!) ?? 0) + 1);
    }
    expect(Object.fromEntries(perNode)).toEqual({ [h1.name]: 2, [h2.name]: 2, [h3.name]: 2 });
  }, 90_000);

  it('is back to 6/6 on the other two hosts after one host is killed', async () => {
    const [h1, h2, h3] = cluster.hosts as [TestHost, TestHost, TestHost];
    // A daemon that left its parent dies with the host too (the overlay's wireguard-go will).
    expect((await runIn(h3.name, 'wireguard-go', [h3.wireguardInterface])).code).toBe(0);
    const wireguardGo = `wireguard-go\0${h3.wireguardInterface}\0`;
    expect(processesRunning(wireguardGo)).toHaveLength(1);
    await cluster.killHost(h3);
    expect(processesRunning(wireguardGo)).toEqual([]);
    expect(existsSync(`/var/run/wireguard/${h3.wireguardInterface}.sock`)).toBe(false);
    await expect(h3.engine.ping()).rejects.toThrow();
    expect(await h3.agent!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await eventually(async () => (await nodeState(h3)) === 'down', 20_000);
    await eventually(async () => (await runningOn(h1, service())).length + (await runningOn(h2, service())).length === 6, 60_000);
    await eventually(async () => (await cluster.docker(['service', 'ls', '--filter', `name=${service()}`, '--format', '{{.Replicas}}'])).stdout.trim() === '6/6', 20_000);
  }, 90_000);

  it('takes tasks on a restarted host again, which comes back as the same node', async () => {
    const h3 = cluster.host(3);
    const nodeId = h3.nodeId;
    await cluster.restartHost(h3);
    expect(h3.nodeId).toBe(nodeId);
    await eventually(async () => (await nodeState(h3)) === 'ready', 30_000);
    await scale(service(), 9);
    await eventually(async () => (await runningOn(h3, service())).length === 3, 60_000);
  }, 120_000);

  it('takes tasks on a fourth host added to the running cluster', async () => {
    const h4 = await cluster.addHost();
    await eventually(async () => (await nodes()).get(h4.name)?.state === 'ready', 30_000);
    expect((await nodes()).get(h4.name)?.addr).toBe(h4.addr);
    expect(await pingFromHost(h4, cluster.host(1).addr)).toBe(true);
    await scale(service(), 12);
    await eventually(async () => (await runningOn(h4, service())).length === 3, 60_000);
  }, 120_000);
});

/** Running containers of a replicated service per slot, across every host's own engine. */
async function runningPerSlot(service: string, hosts: TestHost[]): Promise<Map<string, number>> {
  const perSlot = new Map<string, number>();
  for (const c of (await Promise.all(hosts.map((h) => runningOn(h, service)))).flat()) {
    // Docker's task name: `<service>.<slot>.<task id>`.
    const slot = c.Labels['com.docker.swarm.task.name']!.slice(service.length + 1).split('.')[0]!;
    perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
  }
  return perSlot;
}

/** The public keys of a host's WireGuard peers (none when it has no interface). */
async function wireguardPeers(host: TestHost): Promise<string[]> {
  const res = await runIn(host.name, 'wg', ['show', host.wireguardInterface, 'peers']);
  return res.code === 0 ? res.stdout.split('\n').filter(Boolean) : [];
}

describe('faults across hosts', () => {
  const web = () => `${cluster.prefix}-web`;
  const everywhere = () => `${cluster.prefix}-everywhere`;
  const mesh = () => `${cluster.prefix}-mesh`;
  /** The hosts still in the cluster: the fourth host is removed at the end of this block. */
  const members = () => cluster.hosts.filter((h) => h.agent && h.up);
  const globalTasks = async () => {
    const ps = await cluster.docker(['service', 'ps', '--no-trunc', '--format', '{{.ID}} {{.Node}} {{.DesiredState}}', everywhere()]);
    expect(ps.code, ps.stderr).toBe(0);
    return ps.stdout.split('\n').filter(Boolean).sort();
  };

  it('a global service runs one task on every Ready host, the fourth included, and they are each other\'s WireGuard peers', async () => {
    expect(cluster.hosts).toHaveLength(4);
    await eventually(async () => [...(await nodes()).values()].filter((n) => n.state === 'ready').length === 4, 40_000);
    expect((await cluster.docker(['network', 'create', '-d', 'overlay', mesh()])).code).toBe(0);
    const res = await cluster.docker(['service', 'create', '--detach', '--name', everywhere(), '--mode', 'global', '--network', mesh(), TEST_IMAGE, 'sleep', '3600']);
    expect(res.code, res.stderr).toBe(0);
    await eventually(async () => (await Promise.all(cluster.hosts.map((h) => runningOn(h, everywhere())))).every((c) => c.length === 1), 60_000);
    const tasks = await globalTasks();
    expect(tasks.map((t) => t.split(' ')[1]).sort()).toEqual(cluster.hosts.map((h) => h.name).sort());
    expect(tasks.every((t) => t.endsWith(' Running'))).toBe(true);
    await eventually(async () => (await Promise.all(cluster.hosts.map(wireguardPeers))).every((p) => p.length === 3), 30_000);
  }, 120_000);

  it('a host partitioned until Down and healed runs each replica slot exactly once within 2 s, and keeps its global task', async () => {
    const h2 = cluster.host(2);
    const others = cluster.hosts.filter((h) => h !== h2);
    const [globalBefore] = await runningOn(h2, everywhere());
    const tasksBefore = await globalTasks();
    expect((await runningOn(h2, web())).length).toBe(3);
    await cluster.partition(h2, 'both');
    let healedAt = 0;
    try {
      await eventually(async () => (await nodeState(h2)) === 'down', 20_000);
      // Its replicas run elsewhere now, while its own containers still run: those slots run twice.
      await eventually(async () => (await Promise.all(others.map((h) => runningOn(h, web())))).flat().length === 12, 60_000);
      const twice = [...(await runningPerSlot(web(), cluster.hosts)).values()].filter((n) => n === 2);
      expect(twice).toHaveLength(3);
    } finally {
      await cluster.heal(h2);
      healedAt = Date.now();
    }
    const once = async () => {
      const perSlot = await runningPerSlot(web(), cluster.hosts);
      return perSlot.size === 12 && [...perSlot.values()].every((n) => n === 1);
    };
    await eventually(once, 20_000, 50);
    const slotsOnceMs = Date.now() - healedAt;
    console.log(`faults: ${h2.name} partitioned until Down and healed: every slot of ${web()} runs exactly once ${slotsOnceMs} ms after the heal`);
    // The goal is 2 s: 0.8-1.5 s on a quiet machine, up to 2.5 s with several test runs beside it
    // (most of it the engines stopping containers); 3 s keeps the test about the agent finding the
    // healed control plane at once, not the machine's load.
    expect(slotsOnceMs).toBeLessThan(3_000);

    await eventually(async () => (await nodeState(h2)) === 'ready', 20_000);
    // The same task in the same container, never stopped; no new task made for the host.
    const [globalAfter] = await runningOn(h2, everywhere());
    expect(globalAfter?.Id).toBe(globalBefore!.Id);
    expect(globalAfter?.Labels['com.docker.swarm.task.id']).toBe(globalBefore!.Labels['com.docker.swarm.task.id']);
    expect(await globalTasks()).toEqual(tasksBefore);
  }, 150_000);

  it('docker node rm --force drops the node from every other host\'s WireGuard peers at once and refuses its credential', async () => {
    const h4 = cluster.host(4);
    const keyOf4 = await runIn(h4.name, 'wg', ['show', h4.wireguardInterface, 'public-key']);
    expect(keyOf4.code, keyOf4.stderr).toBe(0);
    const key = keyOf4.stdout.trim();
    const others = cluster.hosts.filter((h) => h !== h4);
    await eventually(async () => (await Promise.all(others.map(wireguardPeers))).every((p) => p.includes(key)), 30_000);
    const identity = JSON.parse(readFileSync(`${h4.agentStateDir}/node.json`, 'utf8')) as { credential: string; controlPlaneUrl: string };

    const removedAt = Date.now();
    const rm = await cluster.docker(['node', 'rm', '--force', h4.nodeId]);
    expect(rm.code, rm.stderr).toBe(0);
    await eventually(async () => (await Promise.all(others.map(wireguardPeers))).every((p) => !p.includes(key)), 10_000, 50);
    const droppedMs = Date.now() - removedAt;
    console.log(`faults: ${h4.name} removed: out of every other host's WireGuard peers ${droppedMs} ms after docker node rm`);

    const refused = await fetch(`${identity.controlPlaneUrl}/agent/v1/assignments?index=0&wait=0ms`, { headers: { authorization: `Bearer ${identity.credential}` } });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code?: string }).code).toBe('credential_revoked');
    // Its agent leaves: its containers, networks and WireGuard interface go with it.
    expect((await h4.agent!.exited).code).not.toBe(0);
    expect(h4.agent!.output()).toMatch(/node credential revoked/);
    h4.agent = undefined;
    await eventually(async () => (await h4.engine.listContainers({ filters: { label: ['swarmlet.task.id'] } })).length === 0, 30_000);
    await eventually(async () => (await runIn(h4.name, 'ip', ['link', 'show', 'dev', h4.wireguardInterface])).code !== 0, 30_000);
    // Last, so the host is clean for the next test whatever the figure.
    expect(droppedMs).toBeLessThan(3_000);
  }, 90_000);

  it('leaves the cluster healed and clean: the global service and its network gone, the replicas on the three hosts', async () => {
    expect((await cluster.docker(['service', 'rm', everywhere()])).code).toBe(0);
    await eventually(async () => (await Promise.all(members().map((h) => runningOn(h, everywhere())))).every((c) => c.length === 0), 60_000);
    await eventually(async () => (await Promise.all(members().map((h) => runIn(h.name, 'ip', ['link', 'show', 'dev', h.wireguardInterface])))).every((r) => r.code !== 0), 30_000);
    expect((await cluster.docker(['network', 'rm', mesh()])).code).toBe(0);
    expect(members()).toHaveLength(3);
    await eventually(async () => (await Promise.all(members().map((h) => runningOn(h, web())))).every((c) => c.length === 4), 60_000);
  }, 120_000);
});

describe('teardown', () => {
  it('leaves no namespace, link, rule, process, mount, cgroup, socket, directory or claim of the run, and may run twice', async () => {
    const names = cluster.names!;
    // What the overlay's agents will add: wireguard-go leaves its parent and takes only the
    // interface name, with a control socket in the machine-wide /var/run/wireguard.
    const h1 = cluster.host(1);
    const wg = await runIn(h1.name, 'wireguard-go', [h1.wireguardInterface]);
    expect(wg.code, wg.stderr).toBe(0);
    expect(await runLeftovers(names)).toContain(`wireguard socket /var/run/wireguard/${h1.wireguardInterface}.sock`);
    // Outside the run's names: the machine-wide sockets of its containers' shims and wireguard-go.
    const sockets = daemonSocketsOf(names.owner);
    expect(sockets.filter((s) => existsSync(s))).toHaveLength(12 + 1);
    await cluster.stop();
    expect(await runLeftovers(names)).toEqual([]);
    expect(sockets.filter((s) => existsSync(s))).toEqual([]);
    await cluster.stop();
    expect(await runLeftovers(names)).toEqual([]);
  }, 60_000);
});
