/**
 * The routing mesh end to end: `docker service create -p PORT:80` through the real docker CLI,
 * the real swarm-agent publishing the port on its host, and the real engine's containers behind it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, ENGINE, spawnAgent } from '../agent/agent-process.ts';
import { freePort } from '../agent/net.ts';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker, eventually } from '../harness/docker-cli.ts';

const RUN = Math.random().toString(36).slice(2, 8);
const TEST_LABEL = 'swarmlet.test.run';
const engine = new Dockerode({ socketPath: '/var/run/docker.sock' });
const service = `web-${RUN}`;

let cp: ControlPlaneProcess;
let env: Record<string, string>;
let agent: AgentProcess;
let stateDir: string;
let port: number;

/** One request on a fresh connection (the mesh balances connections): the serving container's hostname. */
function whoServes(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/x', agent: false, timeout: 3_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

async function spread(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await whoServes();
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

async function runningHostnames(): Promise<string[]> {
  const list = await engine.listContainers({ filters: { label: [`${TEST_LABEL}=${RUN}`], status: ['running'] } });
  return list.map((c) => c.Id.slice(0, 12)).sort();
}

beforeAll(async () => {
  port = await freePort();
  cp = await startControlPlane();
  env = cp.dockerEnv;
  expect((await docker(['swarm', 'init'], env)).code).toBe(0);
  const token = await docker(['swarm', 'join-token', '-q', 'worker'], env);
  stateDir = mkdtempSync(join(tmpdir(), 'swarm-agent-mesh-'));
  agent = spawnAgent(['join', token.stdout.trim(), '--state-dir', stateDir, '--hostname', `mesh-${RUN}`, '--docker-host', ENGINE, '--advertise-addr', '127.0.0.1']);
  await agent.waitForOutput(/INFO joined cluster/);
}, 60_000);

afterAll(async () => {
  if (env) await docker(['service', 'rm', service], env).catch(() => undefined);
  await eventually(async () => (await engine.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${RUN}`] } })).length === 0, 15_000).catch(() => undefined);
  await agent?.stop();
  const leftovers = await engine.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${RUN}`] } });
  await Promise.all(leftovers.map((c) => engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await cp?.stop();
  if (cp) rmSync(cp.dataDir, { recursive: true, force: true });
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe('routing mesh with the real agent', () => {
  it('serves -p PORT:80 from all 3 replicas, drops a scaled-away one, and closes the port on service rm', async () => {
    const create = await docker(
      [
        'service', 'create', '--detach', '--name', service, '--replicas', '3', '-p', `${port}:80`, '--container-label', `${TEST_LABEL}=${RUN}`,
        'local/busybox:1', 'sh', '-c', 'echo $HOSTNAME > /www/x; httpd -f -p 80 -h /www',
      ],
      env,
    );
    expect(create.code, create.stderr).toBe(0);
    const three = await eventually(async () => {
      const names = await runningHostnames();
      return names.length === 3 ? names : undefined;
    }, 30_000);
    // Once every task is running and known to the mesh, connections go round robin over the three.
    await eventually(async () => {
      const counts = await spread(9).catch(() => ({}));
      return Object.keys(counts).sort().join() === three.join() && Object.values(counts).every((n) => n === 3);
    }, 30_000, 250);

    expect((await docker(['service', 'scale', '--detach', `${service}=2`], env)).code).toBe(0);
    const two = await eventually(async () => {
      const names = await runningHostnames();
      return names.length === 2 ? names : undefined;
    }, 30_000);
    const removed = three.find((h) => !two.includes(h))!;
    await eventually(async () => {
      const counts = await spread(8).catch(() => ({}) as Record<string, number>);
      return counts[two[0]!] === 4 && counts[two[1]!] === 4;
    }, 15_000, 250);
    const after = await spread(10);
    expect(after[removed]).toBeUndefined();

    expect((await docker(['service', 'rm', service], env)).code).toBe(0);
    await eventually(async () => (await whoServes().then(() => 'open', (e: Error) => e.message)).includes('ECONNREFUSED'), 15_000, 250);
  });
});
