/**
 * The same scenario on Docker Swarm (`docker swarm init` on this machine's engine) and on swarmlet
 * (a control plane plus one swarm-agent on the same engine), driven by the same docker CLI commands
 * and judged by the same ground truth: the engine's running containers for the service. And the
 * engine's own floor: the same containers created and started (stopped, removed) directly through
 * the engine API, all of a phase in parallel. Phases: create 20, scale 20 → 40, scale 40 → 10, a
 * rolling update of the 10 (parallelism 2, monitor 2 s, stop-first), remove. Records
 * `e2e.<phase>_ratio_vs_swarm` (goal ≤ 0.5) and `e2e.<phase>_ratio_vs_engine` (goal ≤ 1.3).
 *
 *   npx tsx bench/swarm-vs-swarmlet.ts        (needs dockerd and local/busybox:1; see .ci/run)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startControlPlane } from '../test/harness/control-plane-process.ts';
import Dockerode from 'dockerode';
import { docker } from '../test/harness/docker-cli.ts';
import { pool } from './measure.ts';
import { recordMetric, runWhenMain } from './results.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ENGINE = { DOCKER_HOST: 'unix:///var/run/docker.sock', DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'bench-dockercfg-')) };
const IMAGE = 'local/busybox:1';

type Env = Record<string, string>;

async function must(args: string[], env: Env): Promise<string> {
  const r = await docker(args, env, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

const SERVICE_LABEL = 'com.docker.swarm.service.name';
/** The rolling update changes this container label: a container with it runs the new spec. */
const UPDATED = 'bench.updated=1';

/** Running containers of the service on the engine (with `label` only, if given): the truth all three are measured by. */
async function runningContainers(service: string, label?: string): Promise<number> {
  const out = await must(['ps', '-q', '--filter', `label=${SERVICE_LABEL}=${service}`, ...(label ? ['--filter', `label=${label}`] : [])], ENGINE);
  return out ? out.split('\n').length : 0;
}

/** Until the service runs `n` containers (and, with `updated`, all of them of the new spec). */
async function until(service: string, n: number, updated = false, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await runningContainers(service)) === n && (!updated || (await runningContainers(service, UPDATED)) === n)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${service} did not reach ${n} running containers${updated ? ' of the new spec' : ''} in ${timeoutMs} ms`);
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

type Phases = Record<(typeof PHASES)[number], number>;
const PHASES = ['create', 'scale_up', 'scale_down', 'rolling_update', 'remove'] as const;
const LABELS: Record<keyof Phases, string> = {
  create: 'create 20 until running',
  scale_up: 'scale 20→40',
  scale_down: 'scale 40→10',
  rolling_update: 'rolling update 10 (2 at a time, stop-first)',
  remove: 'rm until gone',
};

/** The phases through the docker CLI: seconds each, until the engine shows the result. */
async function scenario(env: Env, service: string): Promise<Phases> {
  const create = await timed(async () => {
    await must(['service', 'create', '--detach', '--init', '--replicas', '20', '--name', service, IMAGE, 'sleep', '3600'], env);
    await until(service, 20);
  });
  const scaleUp = await timed(async () => {
    await must(['service', 'scale', '--detach', `${service}=40`], env);
    await until(service, 40);
  });
  const scaleDown = await timed(async () => {
    await must(['service', 'scale', '--detach', `${service}=10`], env);
    await until(service, 10);
  });
  const rolling = await timed(async () => {
    const update = ['--update-parallelism', '2', '--update-monitor', '2s', '--update-order', 'stop-first', '--container-label-add', UPDATED];
    await must(['service', 'update', '--detach', ...update, service], env);
    await until(service, 10, true);
  });
  const remove = await timed(async () => {
    await must(['service', 'rm', service], env);
    await until(service, 0);
  });
  return { create, scale_up: scaleUp, scale_down: scaleDown, rolling_update: rolling, remove };
}

/**
 * The engine's floor for the same phases: containers created and started (stopped and removed)
 * through the engine API, all of a phase at once; the rolling update in 5 rounds of 2 (stop and
 * remove 2 old, create and start 2 new), without the orchestrators' 2 s monitor.
 */
async function onEngine(): Promise<Phases> {
  const engine = new Dockerode({ socketPath: ENGINE.DOCKER_HOST.replace('unix://', '') });
  const service = `bench-engine-${process.pid}`;
  let live: Dockerode.Container[] = [];
  const start = async (count: number, labels: Record<string, string> = {}) => {
    const made = await pool(Array.from({ length: count }, (_, i) => i), count, async () => {
      const c = await engine.createContainer({ Image: IMAGE, Cmd: ['sleep', '3600'], Labels: { [SERVICE_LABEL]: service, ...labels }, HostConfig: { Init: true } });
      await c.start();
      return c;
    });
    live.push(...made);
  };
  const stopThenRemove = async (count: number) => {
    const gone = live.slice(0, count);
    live = live.slice(count);
    await Promise.all(gone.map(async (c) => (await c.stop(), await c.remove({ v: true }))));
  };
  try {
    const create = await timed(async () => (await start(20), await until(service, 20)));
    const scaleUp = await timed(async () => (await start(20), await until(service, 40)));
    const scaleDown = await timed(async () => (await stopThenRemove(30), await until(service, 10)));
    const [key, value] = UPDATED.split('=') as [string, string];
    const rolling = await timed(async () => {
      for (let round = 0; round < 5; round++) {
        await stopThenRemove(2);
        await start(2, { [key]: value });
      }
      await until(service, 10, true);
    });
    const remove = await timed(async () => (await stopThenRemove(live.length), await until(service, 0)));
    return { create, scale_up: scaleUp, scale_down: scaleDown, rolling_update: rolling, remove };
  } finally {
    await Promise.all(live.map((c) => c.remove({ force: true, v: true }).catch(() => undefined)));
  }
}

async function onSwarm(): Promise<Phases> {
  const state = await must(['info', '--format', '{{.Swarm.LocalNodeState}}'], ENGINE);
  const initialised = state !== 'active';
  if (initialised) await must(['swarm', 'init', '--advertise-addr', '127.0.0.1'], ENGINE);
  try {
    return await scenario(ENGINE, `bench-swarm-${process.pid}`);
  } finally {
    if (initialised) await docker(['swarm', 'leave', '--force'], ENGINE);
  }
}

async function onSwarmlet(): Promise<Phases> {
  const cp = await startControlPlane();
  const stateDir = mkdtempSync(join(tmpdir(), 'bench-agent-'));
  let agent: ChildProcess | undefined;
  try {
    const env = cp.dockerEnv;
    await must(['swarm', 'init'], env);
    const token = await must(['swarm', 'join-token', '-q', 'worker'], env);
    agent = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent/cli.ts'), 'join', token, '--state-dir', stateDir, '--hostname', `bench-${process.pid}`], {
      cwd: ROOT,
      env: { ...process.env, DOCKER_HOST: ENGINE.DOCKER_HOST },
      stdio: 'ignore',
    });
    const deadline = Date.now() + 30_000;
    while (!(await must(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], env)).includes(`bench-${process.pid} Ready`)) {
      if (Date.now() > deadline) throw new Error('the agent did not join');
      await new Promise((r) => setTimeout(r, 200));
    }
    return await scenario(env, `bench-swarmlet-${process.pid}`);
  } finally {
    agent?.kill('SIGTERM');
    await cp.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  console.log('\n# swarm vs swarmlet: same engine, same CLI commands, measured by running containers; and the engine API alone');
  try {
    // Swarmlet first, so Swarm's own state cannot linger in the engine while ours runs.
    const ours = await onSwarmlet();
    const floor = await onEngine();
    const theirs = await onSwarm();
    console.log(`\n${'phase'.padEnd(46)}${'engine s'.padStart(10)}${'swarm s'.padStart(10)}${'swarmlet s'.padStart(12)}${'vs swarm'.padStart(10)}${'vs engine'.padStart(11)}`);
    for (const phase of PHASES) {
      const vsSwarm = ours[phase] / theirs[phase];
      const vsEngine = ours[phase] / floor[phase];
      for (const [system, seconds] of [['engine', floor[phase]], ['swarm', theirs[phase]], ['swarmlet', ours[phase]]] as const) {
        recordMetric(`e2e.${phase}_s`, seconds, 's', { system });
      }
      recordMetric(`e2e.${phase}_ratio_vs_swarm`, vsSwarm, 'ratio', { swarmlet_s: Number(ours[phase].toFixed(2)), swarm_s: Number(theirs[phase].toFixed(2)) });
      recordMetric(`e2e.${phase}_ratio_vs_engine`, vsEngine, 'ratio', { swarmlet_s: Number(ours[phase].toFixed(2)), engine_s: Number(floor[phase].toFixed(2)) });
      console.log(`${LABELS[phase].padEnd(46)}${floor[phase].toFixed(2).padStart(10)}${theirs[phase].toFixed(2).padStart(10)}${ours[phase].toFixed(2).padStart(12)}${vsSwarm.toFixed(2).padStart(10)}${vsEngine.toFixed(2).padStart(11)}`);
    }
    console.log('ratio = swarmlet time / the other\'s (below 1: swarmlet is faster)');
  } finally {
    rmSync(ENGINE.DOCKER_CONFIG, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, main);
