/**
 * A dockerd restart, as the agent sees it: the agent talks to the engine through a unix-socket
 * relay that the test cuts (every connection reset, the socket gone) and brings back. The shared
 * engine itself is never restarted.
 */
import Dockerode from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { type AgentProcess, spawnAgent } from './agent-process.ts';

const RUN = Math.random().toString(36).slice(2, 8);
const engine = new Dockerode({ socketPath: '/var/run/docker.sock' });
const dir = mkdtempSync(join(tmpdir(), 'swarm-agent-relay-'));
const relayPath = join(dir, 'docker.sock');

/** Forwards each connection on `path` to the real engine socket. */
class EngineRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  up() {
    return new Promise<void>((resolve) => {
      this.server = createServer((client) => {
        const upstream = createConnection('/var/run/docker.sock');
        for (const s of [client, upstream]) {
          this.sockets.add(s);
          s.on('close', () => this.sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      this.server.listen(relayPath, resolve);
    });
  }
  down() {
    for (const s of this.sockets) s.destroy();
    return new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const relay = new EngineRelay();
let cp: ControlPlaneProcess;
let env: Record<string, string>;
let agent: AgentProcess;
let nodeId = '';
const name = `r${RUN}-svc`;

beforeAll(async () => {
  await relay.up();
  cp = await startControlPlane();
  env = cp.dockerEnv;
  expect((await docker(['swarm', 'init'], env)).code).toBe(0);
  const token = (await docker(['swarm', 'join-token', '-q', 'worker'], env)).stdout.trim();
  agent = spawnAgent(['join', token, '--state-dir', join(dir, 'state'), '--hostname', `relay-${RUN}`, '--docker-host', `unix://${relayPath}`]);
  nodeId = /node=(\w+)/.exec(await agent.waitForOutput(/INFO joined cluster .*node=\w+/))![1]!;
}, 60_000);

afterAll(async () => {
  if (env) await docker(['service', 'rm', name], env).catch(() => undefined);
  await agent?.stop();
  await relay.down();
  if (nodeId) {
    const left = await engine.listContainers({ all: true, filters: { label: [`swarmlet.node.id=${nodeId}`] } });
    await Promise.all(left.map((c) => engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const ours = (all = false) => engine.listContainers({ all, filters: { label: [`swarmlet.node.id=${nodeId}`, 'swarmlet.test.run=' + RUN] } });

it('survives an engine restart: reconnects its event stream and catches what happened meanwhile', async () => {
  const create = await docker(['service', 'create', '--detach', '--name', name, '--container-label', `swarmlet.test.run=${RUN}`, '--replicas', '2', 'local/busybox:1', 'sleep', '3600'], env);
  expect(create.code, create.stderr).toBe(0);
  const [victim, survivor] = await eventually(async () => {
    const list = await ours();
    return list.length === 2 ? list : undefined;
  });

  await relay.down();
  // While the agent cannot see the engine, one task's container dies.
  await engine.getContainer(victim!.Id).kill({ signal: 'SIGKILL' });
  await new Promise((r) => setTimeout(r, 2_000));
  await relay.up();

  const victimTask = victim!.Labels['swarmlet.task.id']!;
  await eventually(async () => {
    const t = JSON.parse((await docker(['inspect', '--type', 'task', victimTask], env)).stdout)[0];
    return t.Status.State === 'failed' && t.Status.Err === 'task: non-zero exit (137)';
  }, 30_000);
  // The replacement runs beside the untouched survivor.
  const after = await eventually(async () => {
    const list = await ours();
    return list.length === 2 && !list.some((c) => c.Id === victim!.Id) ? list : undefined;
  }, 30_000);
  expect(after.map((c) => c.Id)).toContain(survivor!.Id);
  expect(agent.output()).toMatch(/docker events stream (ended|failed)/);
  expect(agent.proc.exitCode).toBeNull();
}, 90_000);
