/**
 * The same scenario on Docker Swarm (`docker swarm init` on this machine's engine) and on swarmlet
 * (a control plane plus one swarm-agent on the same engine), driven by the same docker CLI commands
 * and judged by the same ground truth: the engine's running containers for the service.
 *
 *   npx tsx bench/swarm-vs-swarmlet.ts        (needs dockerd and local/busybox:1; see .ci/run)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startControlPlane } from '../test/harness/control-plane-process.ts';
import { docker } from '../test/harness/docker-cli.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ENGINE = { DOCKER_HOST: 'unix:///var/run/docker.sock', DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'bench-dockercfg-')) };
const IMAGE = 'local/busybox:1';

type Env = Record<string, string>;

async function must(args: string[], env: Env): Promise<string> {
  const r = await docker(args, env, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** Running containers of the service on the engine: the truth both systems are measured by. */
async function runningContainers(service: string): Promise<number> {
  const out = await must(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`], ENGINE);
  return out ? out.split('\n').length : 0;
}

async function until(service: string, n: number, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await runningContainers(service)) === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${service} did not reach ${n} running containers in ${timeoutMs} ms`);
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** create 20 → running, scale 40, scale 5, remove: seconds per phase. */
async function scenario(env: Env, service: string): Promise<Record<string, number>> {
  const create = await timed(async () => {
    await must(['service', 'create', '--detach', '--init', '--replicas', '20', '--name', service, IMAGE, 'sleep', '3600'], env);
    await until(service, 20);
  });
  const scaleUp = await timed(async () => {
    await must(['service', 'scale', '--detach', `${service}=40`], env);
    await until(service, 40);
  });
  const scaleDown = await timed(async () => {
    await must(['service', 'scale', '--detach', `${service}=5`], env);
    await until(service, 5);
  });
  const remove = await timed(async () => {
    await must(['service', 'rm', service], env);
    await until(service, 0);
  });
  return { 'create 20 until running': create, 'scale 20→40': scaleUp, 'scale 40→5': scaleDown, 'rm until gone': remove };
}

async function onSwarm(): Promise<Record<string, number>> {
  const state = await must(['info', '--format', '{{.Swarm.LocalNodeState}}'], ENGINE);
  const initialised = state !== 'active';
  if (initialised) await must(['swarm', 'init', '--advertise-addr', '127.0.0.1'], ENGINE);
  try {
    return await scenario(ENGINE, `bench-swarm-${process.pid}`);
  } finally {
    if (initialised) await docker(['swarm', 'leave', '--force'], ENGINE);
  }
}

async function onSwarmlet(): Promise<Record<string, number>> {
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
  console.log('swarm vs swarmlet: same engine, same CLI commands, measured by running containers');
  // Swarmlet first, so Swarm's own state cannot linger in the engine while ours runs.
  const ours = await onSwarmlet();
  const theirs = await onSwarm();
  console.log(`\n${'phase'.padEnd(26)}${'swarm s'.padStart(10)}${'swarmlet s'.padStart(12)}${'ratio'.padStart(8)}`);
  for (const phase of Object.keys(ours)) {
    const ratio = ours[phase]! / theirs[phase]!;
    console.log(`${phase.padEnd(26)}${theirs[phase]!.toFixed(2).padStart(10)}${ours[phase]!.toFixed(2).padStart(12)}${ratio.toFixed(2).padStart(8)}`);
  }
  console.log('ratio = swarmlet time / swarm time (below 1: swarmlet is faster)');
  rmSync(ENGINE.DOCKER_CONFIG, { recursive: true, force: true });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
