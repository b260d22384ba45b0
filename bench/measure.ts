/**
 * What the scale benchmarks share: the control plane they start (its rate limits on joins and its
 * long-poll cap raised, since joining thousands of simulated hosts is set-up, not what is measured),
 * bounded waiting, placements counted from the leader's commit log, and the process's CPU time and
 * memory read from /proc.
 */
import { readFileSync, rmSync } from 'node:fs';
import { type ControlPlaneProcess, startControlPlane } from '../test/harness/control-plane-process.ts';
import { quantile } from '../test/harness/delivery.ts';
import { SwarmClient } from '../test/harness/swarm-client.ts';
import { AgentFleet, type FleetOptions } from './agent-fleet.ts';

export { quantile };

/** The wall clock in ms with sub-ms precision, comparable between processes (the fleet's workers use it too). */
export const wallMs = () => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `check` holds, polling every few ms; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string, pollMs = 2): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
  return performance.now();
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Tasks placed so far by this process's leader, summed from its LOG_COMMITS lines. */
export function placedSoFar(cp: ControlPlaneProcess): number {
  return [...cp.output().matchAll(/commit cluster=\S+ index=\d+ epoch=\d+ placed=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

const CLOCK_TICKS_PER_S = 100;

/** User + system CPU seconds the process has used (/proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** Resident memory now (VmRSS) or at its peak (VmHWM), in MiB. */
export function memoryMiB(pid: number, which: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const kb = new RegExp(`${which}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no ${which} for process ${pid}`);
  return Number(kb) / 1024;
}

/** p50 / p99 / max of unsorted samples. */
export function summary(samples: number[]): { p50: number; p99: number; max: number; count: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? NaN, count: sorted.length };
}

/**
 * The control plane's settings every scale benchmark starts it with: commits logged (placements
 * are counted from them), joins unthrottled, long-polls held as long as the agents ask.
 * BENCH_TLS=off serves plain HTTP (TLS is on by default, as users run it).
 */
export const BENCH_ENV: Record<string, string> = {
  LOG_COMMITS: '1',
  JOINS_PER_SEC_PER_TOKEN: '100000',
  JOIN_BURST_PER_TOKEN: '100000',
  LONG_POLL_MAX_WAIT_MS: '120000',
  // Swarm's dispatcher default and issue 13's heartbeat scenario; thousands of agents at the
  // control plane's own default (2 s) spend the machine on heartbeats while they join.
  HEARTBEAT_PERIOD_MS: '5000',
  ...(process.env.BENCH_TLS === 'off' ? { TLS: 'off' } : {}),
};

/**
 * SIGTERM, and SIGKILL if the process has not exited within `ms` (said when it happens): on the
 * remote database a control plane was seen to hang in its shutdown for minutes.
 */
export async function stopWithin(cp: ControlPlaneProcess, ms: number): Promise<void> {
  const timer = setTimeout(() => {
    console.error(`control plane ${cp.proc.pid} did not exit within ${ms} ms of SIGTERM; killed`);
    cp.proc.kill('SIGKILL');
  }, ms);
  await cp.stop();
  clearTimeout(timer);
}

export interface BenchCluster {
  cp: ControlPlaneProcess;
  api: SwarmClient;
  token: string;
  fleet: AgentFleet;
  /** The control plane's resident memory after `swarm init`, before any agent joined (MiB). */
  rssBeforeAgentsMiB: number;
  close(): Promise<void>;
}

/** A control plane process with `agents` simulated agents (in worker processes) joined and long-polling. */
export async function startBenchCluster(agents: number, fleet: FleetOptions = {}, env: Record<string, string> = {}, dataDir?: string): Promise<BenchCluster> {
  const cp = await startControlPlane({ ...(dataDir ? { dataDir } : {}), env: { ...BENCH_ENV, INSTANCE_ID: 'cp-bench', ...env } });
  let started: AgentFleet | undefined;
  try {
    const api = SwarmClient.forProcess(cp);
    await api.init();
    const token = await api.workerToken();
    const rssBeforeAgentsMiB = memoryMiB(cp.proc.pid!);
    started = await AgentFleet.start(cp, token, agents, fleet);
    const f = started;
    return {
      cp,
      api,
      token,
      fleet: f,
      rssBeforeAgentsMiB,
      async close() {
        await f.stop();
        await stopWithin(cp, 20_000);
        rmSync(cp.dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await started?.stop();
    await cp.stop();
    rmSync(cp.dataDir, { recursive: true, force: true });
    throw err;
  }
}
