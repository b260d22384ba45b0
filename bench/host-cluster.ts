/**
 * What the benchmarks on real hosts (test/harness/hosts) share: one HostCluster removed at the end
 * whatever happens, bounded polling, the docker CLI that must succeed, a service's tasks on a
 * host's own engine, and the way figures are printed.
 */
import { HostCluster, type HostClusterOptions, type TestHost } from '../test/harness/hosts/cluster.ts';
import { sleep } from '../test/harness/hosts/command.ts';
import { type Netns, processNetns } from './mesh-paths.ts';

const POLL_MS = 100;

export const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
export const row = (label: string, value: string) => console.log(`  ${`${label}:`.padEnd(44)}${value}`);

/**
 * Runs `body` on a started cluster of `count` hosts and removes everything the run made afterwards,
 * also when it fails or is interrupted (Ctrl-C, SIGTERM).
 */
export async function withHostCluster(count: number, opts: HostClusterOptions, body: (cluster: HostCluster) => Promise<void>): Promise<void> {
  const cluster = new HostCluster(opts);
  const interrupted = () => void cluster.stop().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await cluster.start(count);
    console.log(`cluster ${cluster.prefix} up in ${s(cluster.startupMs)}`);
    await body(cluster);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cluster.stop();
  }
}

/** Polls `check` every `pollMs` until it returns a value; bounded. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, pollMs = POLL_MS): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${s(timeoutMs)} waiting for ${what}`);
    await sleep(pollMs);
  }
}

export async function mustDocker(cluster: HostCluster, args: string[]): Promise<string> {
  const res = await cluster.docker(args);
  if (res.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res.stdout.trim();
}

export const runningOn = (host: TestHost, service: string) =>
  host.engine.listContainers({ filters: { label: [`com.docker.swarm.service.name=${service}`], status: ['running'] } });

export interface RunningTask {
  id: string;
  /** Its container's name on the host's engine, which Docker's own resolver answers there. */
  name: string;
  /** Its address on the (first) overlay network. */
  addr: string;
  netns: Netns;
}

/** The service's running task containers on the host, with their overlay addresses and network namespaces. */
export async function tasksOn(host: TestHost, service: string): Promise<RunningTask[]> {
  const found: RunningTask[] = [];
  for (const c of await runningOn(host, service)) {
    const addr = Object.entries(c.NetworkSettings?.Networks ?? {}).find(([name]) => name.startsWith('swarmlet-'))?.[1].IPAddress;
    if (!addr) continue;
    const pid = (await host.engine.getContainer(c.Id).inspect()).State.Pid;
    found.push({ id: c.Id, name: c.Names[0]!.replace(/^\//, ''), addr, netns: processNetns(pid) });
  }
  return found;
}

/** The service's one running task on the host (none yet: undefined). */
export const taskOn = async (host: TestHost, service: string): Promise<RunningTask | undefined> => (await tasksOn(host, service))[0];
