/**
 * Start-up time and idle memory of the control plane and the agent, as they started before the
 * build (npm → sh → tsx → node) and as they start now (node on the compiled bin, one process).
 *
 *   control plane: process start → "listening" logged; agent: process start → "joined cluster"
 *   and → "agent running" (joined and polling). Then 3 s idle: resident memory summed over the
 *   process tree, and how many processes that tree has. Median of 3 runs each.
 *
 * And the floor under the agent's join, measured the same way: `node -e 0` from spawn to exit, and
 * the engine's GET /info (what the agent asks before it can join), each the median of 5.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINE } from '../test/agent/agent-process.ts';
import { startControlPlane } from '../test/harness/control-plane-process.ts';
import { docker } from '../test/harness/docker-cli.ts';
import { run as runCommand, sleep } from '../test/harness/hosts/command.ts';
import { ROOT, spawnWatched } from '../test/harness/process-output.ts';
import { processTree, residentMiBOf } from '../test/harness/proc-info.ts';
import { quick, recordMetric } from './results.ts';

/** `--quick`: one run of the compiled variants only, on the build CI made just before (built here if there is none). */
const RUNS = quick ? 1 : 3;
const IDLE_MS = 3_000;

interface Variant {
  /** The metric's `variant` parameter. */
  key: 'npm_tsx' | 'node_tsx' | 'compiled';
  name: string;
  command: string[];
}

interface Sample {
  readyMs: number;
  joinedMs?: number;
  rssMiB: number;
  processes: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Starts `command`, times the first `ready` line (and `joined`, for agents), then reads the idle tree and stops every process of it. */
async function measure(command: string[], env: Record<string, string>, ready: RegExp, joined?: RegExp): Promise<Sample> {
  const started = performance.now();
  const proc = spawnWatched(command, env, command.join(' '), 60_000);
  try {
    let joinedMs: number | undefined;
    if (joined) {
      await proc.waitForOutput(joined);
      joinedMs = performance.now() - started;
    }
    await proc.waitForOutput(ready);
    const readyMs = performance.now() - started;
    await sleep(IDLE_MS);
    const tree = processTree(proc.proc.pid!);
    const rssMiB = tree.reduce((sum, pid) => sum + residentMiBOf(pid), 0);
    // npm and tsx pass SIGTERM on, but not always before they exit: end the whole tree by its ids.
    for (const pid of tree.reverse()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
    return { readyMs, ...(joinedMs === undefined ? {} : { joinedMs }), rssMiB, processes: tree.length };
  } finally {
    await proc.stop('SIGKILL');
  }
}

/** Records each variant's medians as `startup.<what>.<variant>` metrics. */
function record(what: 'control_plane' | 'agent', rows: [Variant, Sample[]][]) {
  for (const [variant, samples] of rows) {
    const parameters = { variant: variant.key, runs: samples.length, processes: median(samples.map((s) => s.processes)) };
    recordMetric(`startup.${what}.ready_ms`, median(samples.map((s) => s.readyMs)), 'ms', parameters);
    const joined = samples.flatMap((s) => (s.joinedMs === undefined ? [] : [s.joinedMs]));
    if (joined.length) recordMetric(`startup.${what}.joined_ms`, median(joined), 'ms', parameters);
    recordMetric(`startup.${what}.idle_rss`, median(samples.map((s) => s.rssMiB)), 'MiB', parameters);
  }
}

const FLOOR_RUNS = quick ? 2 : 5;

async function nodeAloneMs(): Promise<number> {
  const started = performance.now();
  const res = await runCommand(process.execPath, ['-e', '0']);
  if (res.code !== 0) throw new Error(`node -e 0 failed: ${res.stderr}`);
  return performance.now() - started;
}

function engineInfoMs(): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get({ socketPath: ENGINE.replace('unix://', ''), path: '/info' }, (res) => {
      res.resume();
      res.once('end', () => resolve(performance.now() - started));
    }).once('error', reject);
  });
}

async function measureFloor() {
  const rows: [string, (() => Promise<number>)][] = [
    ['node_alone_ms', nodeAloneMs],
    ['engine_info_ms', engineInfoMs],
  ];
  console.log(`\nfloor under the agent's join (median of ${FLOOR_RUNS})`);
  for (const [name, measureOnce] of rows) {
    const samples: number[] = [];
    for (let i = 0; i < FLOOR_RUNS; i++) samples.push(await measureOnce());
    console.log(`${name}: ${median(samples).toFixed(0)} (${samples.map((v) => v.toFixed(0)).join(', ')})`);
    recordMetric(`startup.floor.${name}`, median(samples), 'ms', { runs: FLOOR_RUNS });
  }
}

function report(title: string, rows: [Variant, Sample[]][]) {
  console.log(`\n${title}`);
  console.log('| variant | processes | ready ms (median, runs) | joined ms | idle RSS MiB (tree) |');
  console.log('|---|---|---|---|---|');
  for (const [{ name }, samples] of rows) {
    const ready = samples.map((s) => s.readyMs);
    const joined = samples.flatMap((s) => (s.joinedMs === undefined ? [] : [s.joinedMs]));
    const fmt = (values: number[]) => `${median(values).toFixed(0)} (${values.map((v) => v.toFixed(0)).join(', ')})`;
    console.log(`| ${name} | ${median(samples.map((s) => s.processes))} | ${fmt(ready)} | ${joined.length ? fmt(joined) : '–'} | ${median(samples.map((s) => s.rssMiB)).toFixed(1)} (${samples.map((s) => s.rssMiB.toFixed(0)).join(', ')}) |`);
  }
}

const chosen = (variants: Variant[]) => (quick ? variants.filter((v) => v.key === 'compiled') : variants);

export async function run() {
  if (!quick || !existsSync(join(ROOT, 'dist'))) {
    const build = await runCommand('npm', ['run', 'build'], 600_000, ROOT);
    if (build.code !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
  }
  const controlPlanes = chosen([
    { key: 'npm_tsx', name: 'before: npm start (npm → sh → tsx → node)', command: ['npm', 'run', 'dev:start'] },
    { key: 'node_tsx', name: 'node --import tsx control-plane/server.ts', command: [process.execPath, '--import', 'tsx', join(ROOT, 'control-plane/server.ts')] },
    { key: 'compiled', name: 'after: swarmlet serve (compiled)', command: [process.execPath, join(ROOT, 'bin/swarmlet.js'), 'serve'] },
  ]);
  const cpRows: [Variant, Sample[]][] = [];
  for (const variant of controlPlanes) {
    const samples: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-startup-cp-'));
      try {
        samples.push(await measure(variant.command, { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir }, /listening on/));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
    cpRows.push([variant, samples]);
  }
  report('control plane: start → listening (first start of a new data dir: CA, database, migrations)', cpRows);
  record('control_plane', cpRows);

  const cp = await startControlPlane({ command: [process.execPath, join(ROOT, 'bin/swarmlet.js'), 'serve'] });
  try {
    if ((await docker(['swarm', 'init'], cp.dockerEnv)).code !== 0) throw new Error('docker swarm init failed');
    const token = (await docker(['swarm', 'join-token', '-q', 'worker'], cp.dockerEnv)).stdout.trim();
    const agents = chosen([
      { key: 'npm_tsx', name: 'before: npm run agent (npm → sh → tsx → node)', command: ['npm', 'run', 'agent', '--'] },
      { key: 'node_tsx', name: 'node --import tsx agent/cli.ts', command: [process.execPath, '--import', 'tsx', join(ROOT, 'agent/cli.ts')] },
      { key: 'compiled', name: 'after: swarm-agent (compiled, bundled)', command: [process.execPath, join(ROOT, 'bin/swarm-agent.js')] },
    ]);
    const agentRows: [Variant, Sample[]][] = [];
    for (const [v, variant] of agents.entries()) {
      const samples: Sample[] = [];
      for (let i = 0; i < RUNS; i++) {
        const stateDir = mkdtempSync(join(tmpdir(), 'bench-startup-agent-'));
        const args = ['join', token, '--state-dir', stateDir, '--hostname', `bench-startup-${v}-${i}`, '--docker-host', ENGINE, '--advertise-addr', '127.0.0.1', '--wireguard-interface', `wgb-${process.pid % 10000}-${v}${i}`];
        try {
          samples.push(await measure([...variant.command, ...args], { DOCKER_HOST: ENGINE }, /agent running/, /joined cluster/));
        } finally {
          rmSync(stateDir, { recursive: true, force: true });
        }
      }
      agentRows.push([variant, samples]);
    }
    report('agent: start → joined cluster (token checked, credential saved) → agent running (polling); idle with no tasks', agentRows);
    record('agent', agentRows);
    await measureFloor();
  } finally {
    await cp.stop();
    rmSync(cp.dataDir, { recursive: true, force: true });
  }
}
