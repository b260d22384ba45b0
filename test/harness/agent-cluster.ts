import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect } from 'vitest';
import { type AgentProcess, ENGINE, spawnAgent } from '../agent/agent-process.ts';
import { spawnWatched } from './process-output.ts';
import { type ControlPlaneProcess, startControlPlane } from './control-plane-process.ts';
import { type CliResult, docker, eventually } from './docker-cli.ts';

/** The container label that marks what one test file's run created on the shared engine. */
export const TEST_LABEL = 'swarmlet.test.run';

/**
 * A control plane process with an initialised swarm and the real swarm-agent joined to it,
 * running containers on the real Docker engine (unix:///var/run/docker.sock).
 */
export class AgentCluster {
  /** This run's random tag: in the hostname and the test label, and for names of its own. */
  readonly run = Math.random().toString(36).slice(2, 8);
  /** Its own WireGuard interface: agents of several test files share the root namespace. */
  readonly wireguardInterface = `wgt-${this.run}`;
  /** `swarmlet.test.run=<run>`, which createService puts on every container of its services. */
  readonly label = `${TEST_LABEL}=${this.run}`;
  readonly hostname: string;
  readonly engine = new Dockerode({ socketPath: '/var/run/docker.sock' });
  cp!: ControlPlaneProcess;
  /** DOCKER_HOST and DOCKER_CONFIG for the docker CLI. */
  env!: Record<string, string>;
  /** The agent process now running (startAgent replaces it). */
  agent!: AgentProcess;
  stateDir!: string;
  nodeId!: string;
  private readonly services: string[] = [];

  /**
   * `name` makes the agent's hostname `<name>-<run>`; `controlPlaneEnv` goes to the control plane's
   * process, `agentEnv` to the agent's; `controlPlaneCommand` and `agentCommand` replace the sources
   * run with tsx (installed commands: `swarmlet serve`, `swarm-agent`).
   */
  constructor(
    private readonly name: string,
    private readonly opts: {
      controlPlaneEnv?: Record<string, string>;
      agentArgs?: string[];
      agentEnv?: Record<string, string>;
      controlPlaneCommand?: string[];
      agentCommand?: string[];
    } = {},
  ) {
    this.hostname = `${name}-${this.run}`;
  }

  /** Starts the control plane, runs `docker swarm init` and joins the agent with the worker token. */
  async start(): Promise<void> {
    this.cp = await startControlPlane({ env: this.opts.controlPlaneEnv, ...(this.opts.controlPlaneCommand ? { command: this.opts.controlPlaneCommand } : {}) });
    this.env = this.cp.dockerEnv;
    // Its own address pool: the engine is shared, and Docker refuses a second bridge network on
    // the same subnet (each cluster's ingress network becomes one when a service publishes a port).
    const pool = `10.${128 + Math.floor(Math.random() * 120)}.0.0/16`;
    const init = await docker(['swarm', 'init', '--default-addr-pool', pool], this.env);
    expect(init.code, init.stderr).toBe(0);
    const token = await docker(['swarm', 'join-token', '-q', 'worker'], this.env);
    expect(token.code, token.stderr).toBe(0);
    this.stateDir = mkdtempSync(join(tmpdir(), `swarm-agent-${this.name}-`));
    this.startAgent(['join', token.stdout.trim()]);
    const joined = await this.agent.waitForOutput(/INFO joined cluster .*node=(\w+)/);
    this.nodeId = /node=(\w+)/.exec(joined)![1]!;
  }

  /** Runs `swarm-agent <command...>` with this cluster's state directory, hostname and engine. */
  startAgent(command: string[]): AgentProcess {
    const args = [
      ...command,
      ...['--state-dir', this.stateDir, '--hostname', this.hostname, '--docker-host', ENGINE],
      ...['--advertise-addr', '127.0.0.1', '--wireguard-interface', this.wireguardInterface],
      ...(this.opts.agentArgs ?? []),
    ];
    const { agentCommand } = this.opts;
    const env = this.opts.agentEnv ?? {};
    this.agent = agentCommand ? spawnWatched([...agentCommand, ...args], { DOCKER_HOST: ENGINE, ...env }, 'agent', 20_000) : spawnAgent(args, env);
    return this.agent;
  }

  /** `docker service create` (detached unless told) with this run's label on every container; removed on stop. */
  async createService(name: string, args: string[], opts: { detach?: boolean } = {}): Promise<CliResult> {
    this.services.push(name);
    const res = await docker(
      ['service', 'create', ...(opts.detach === false ? [] : ['--detach']), '--name', name, '--container-label', this.label, ...args],
      this.env,
      { timeoutMs: 90_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    return res;
  }

  /** The engine's containers with this run's label (running ones unless `all`). */
  containers(opts: { all?: boolean; status?: string[] } = {}): Promise<Dockerode.ContainerInfo[]> {
    return this.engine.listContainers({ all: opts.all ?? false, filters: { label: [this.label], ...(opts.status ? { status: opts.status } : {}) } });
  }

  /**
   * Removes the services it created and waits for their containers to go, stops the agent, then
   * removes whatever this run left on the engine (its label, or its node's task label), stops the
   * control plane and deletes the directories. Copes with a start that failed part way.
   */
  async stop(): Promise<void> {
    if (this.env && this.services.length) await docker(['service', 'rm', ...this.services], this.env).catch(() => undefined);
    if (this.nodeId) await eventually(async () => (await this.containers({ all: true })).length === 0, 15_000).catch(() => undefined);
    await this.agent?.stop();
    const leftovers = [
      ...(await this.containers({ all: true })),
      ...(this.nodeId ? await this.engine.listContainers({ all: true, filters: { label: [`swarmlet.node.id=${this.nodeId}`] } }) : []),
    ];
    await Promise.all(leftovers.map((c) => this.engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    // The overlay networks and WireGuard interface its agent made, had it no time to remove them.
    const networks = this.nodeId ? await this.engine.listNetworks({ filters: { label: [`swarmlet.mesh.node.id=${this.nodeId}`] } }) : [];
    await Promise.all(networks.map((n) => this.engine.getNetwork(n.Id).remove().catch(() => undefined)));
    await new Promise((resolve) => execFile('ip', ['link', 'del', 'dev', this.wireguardInterface], resolve));
    await this.cp?.stop();
    if (this.cp) rmSync(this.cp.dataDir, { recursive: true, force: true });
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** An AgentCluster started before this file's tests and stopped after them. */
export function useAgentCluster(name: string): AgentCluster {
  const cluster = new AgentCluster(name);
  beforeAll(() => cluster.start(), 60_000);
  afterAll(() => cluster.stop(), 60_000);
  return cluster;
}
