import { mkdirSync } from 'node:fs';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll } from 'vitest';
import { type AgentProcess, spawnAgent } from '../../agent/agent-process.ts';
import { type ControlPlaneProcess, startControlPlane } from '../control-plane-process.ts';
import { type CliResult, docker } from '../docker-cli.ts';
import { claimSlot } from './claim.ts';
import { inNetns } from './command.ts';
import { loadImages, saveTestImage, startEngine } from './engine.ts';
import { countBetweenHosts, type Direction, healHost, isolateRun, partitionHost, preparePartition } from './firewall.ts';
import { type HostNames, RunNames } from './names.ts';
import { createBridge, createHostNetwork } from './network.ts';
import { killProcessesOf } from './processes.ts';
import { removeRun } from './teardown.ts';

/** A test host: a namespace on the bridge with its own dockerd and a real swarm-agent. */
export interface TestHost extends HostNames {
  /** This host's own engine (the Docker API over its socket). */
  engine: Dockerode;
  agent: AgentProcess | undefined;
  /** The node's id in the cluster, from the agent's `agent running` line. */
  nodeId: string;
  /** False between killHost and restartHost. */
  up: boolean;
}

export interface HostClusterOptions {
  /** Over the harness's control-plane environment (a quick liveness: 1 s heartbeats, 3 misses). */
  controlPlaneEnv?: Record<string, string>;
  /**
   * 'quick' (the default) for fault tests; 'defaults' leaves liveness to control-plane/config.ts,
   * so a benchmark measures what a deployment gets.
   */
  liveness?: 'quick' | 'defaults';
}

/** Liveness quick enough for fault tests: a dead or cut-off host is Down after about 3 s. */
const QUICK_LIVENESS = { HEARTBEAT_PERIOD_MS: '1000', HEARTBEAT_MISSES: '3' };

/**
 * N test hosts on one machine, each a network namespace on a bridge of this run with its own
 * dockerd and a real swarm-agent, joined to a control plane that runs in the root namespace on
 * the bridge's address. Faults: killHost, restartHost, partition, heal; addHost grows it.
 * stop() removes everything the run made (see teardown.ts), also after a failed start.
 */
export class HostCluster {
  /** Every name the run creates starts with it. */
  readonly prefix = RunNames.randomPrefix();
  /** Set once the run has claimed its slot; before that there is nothing to tear down. */
  names: RunNames | undefined;
  cp!: ControlPlaneProcess;
  /** DOCKER_HOST and DOCKER_CONFIG for the docker CLI against the control plane. */
  cli!: Record<string, string>;
  readonly hosts: TestHost[] = [];
  /** Wall time of start(), for the report and to notice a slower harness. */
  startupMs = 0;
  /** When (ms into start) each part was ready: where start-up time goes. */
  readonly startupPhases: Record<string, number> = {};
  private workerToken = '';

  constructor(private readonly opts: HostClusterOptions = {}) {}

  /**
   * Claims a subnet, makes the bridge and its firewall guards (before any host can send), then in
   * parallel: the control plane with `docker swarm init`, the test image saved once, and each host's
   * namespace, engine and image; last the agents join, in parallel too.
   */
  async start(count: number): Promise<void> {
    const started = Date.now();
    const phase = <T>(name: string, work: Promise<T>) => work.then((v) => ((this.startupPhases[name] = Date.now() - started), v));
    const names = await claimSlot(this.prefix, removeRun);
    this.names = names;
    mkdirSync(names.controlPlaneDir, { recursive: true });
    await createBridge(names);
    await isolateRun(names);
    this.startupPhases.bridge = Date.now() - started;
    const imageSaved = phase('image saved', saveTestImage(names.imageTar));
    const controlPlane = phase('swarm init', this.startControlPlane(names));
    const hosts = Array.from({ length: count }, (_, i) => phase(`h${i + 1} engine`, this.prepareHost(i + 1, imageSaved)));
    // All settled before anything throws, so no failure is left unhandled; stop() cleans up.
    const results = await Promise.allSettled([imageSaved, controlPlane, ...hosts]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(this.hosts.map((h) => phase(`h${h.index} agent`, this.startAgent(h, ['join', this.workerToken]))));
    this.startupMs = Date.now() - started;
  }

  private async startControlPlane(names: RunNames): Promise<void> {
    this.cp = await startControlPlane({ dataDir: names.controlPlaneDir, env: { HOST: names.gateway, ...(this.opts.liveness === 'defaults' ? {} : QUICK_LIVENESS), ...this.opts.controlPlaneEnv } });
    this.cli = this.cp.dockerEnv;
    await this.mustDocker(['swarm', 'init', '--advertise-addr', names.gateway]);
    this.workerToken = (await this.mustDocker(['swarm', 'join-token', '-q', 'worker'])).trim();
  }

  /** Namespace, partition chain, engine and test image of host `index`; the agent comes later. */
  private async prepareHost(index: number, imageSaved: Promise<void>): Promise<TestHost> {
    const names = this.names!.host(index);
    await createHostNetwork(this.names!, names);
    await preparePartition(names.name);
    const engine = await startEngine(names);
    const host: TestHost = { ...names, engine: engine.docker, agent: undefined, nodeId: '', up: true };
    this.hosts[index - 1] = host;
    await imageSaved;
    await loadImages(names, this.names!.imageTar);
    return host;
  }

  /** Runs `swarm-agent <command>` on the host (in its namespace) and waits until it runs as a node. */
  private async startAgent(host: TestHost, command: string[]): Promise<void> {
    host.agent = spawnAgent(
      [...command, '--state-dir', host.agentStateDir, '--hostname', host.name, '--docker-host', host.engineUrl, '--advertise-addr', host.addr],
      // wireguard-go's control socket is machine-wide: each host's interface needs its own name.
      { DOCKER_HOST: host.engineUrl, SWARM_AGENT_WIREGUARD_INTERFACE: host.wireguardInterface, SWARM_AGENT_DNS_UPSTREAM: this.dnsUpstream },
      inNetns(host.name),
    );
    const running = await host.agent.waitForOutput(/agent running .*node=(\w+)/, 30_000);
    host.nodeId = /node=(\w+)/.exec(running)![1]!;
  }

  /**
   * The hosts' own resolver (their /etc/resolv.conf is the machine's, out of their reach): port 53
   * of the bridge's address, in the root namespace. A test that needs outside names serves them there.
   */
  get dnsUpstream(): string {
    if (!this.names) throw new Error('dnsUpstream: the cluster has not started');
    return `${this.names.gateway}:53`;
  }

  /** Host `index` (1-based, as in its name). */
  host(index: number): TestHost {
    const host = this.hosts[index - 1];
    if (!host) throw new Error(`no host ${index} (the cluster has ${this.hosts.length})`);
    return host;
  }

  /** A new host joined to the running cluster with the worker token. */
  async addHost(): Promise<TestHost> {
    const host = await this.prepareHost(this.hosts.length + 1, Promise.resolve());
    await this.startAgent(host, ['join', this.workerToken]);
    return host;
  }

  /** The host dies: its agent, dockerd, containerd, shims and containers are SIGKILLed at once. */
  async killHost(host: TestHost): Promise<void> {
    host.up = false;
    await killProcessesOf(host.owner);
  }

  /** Boots a killed host again: its engine on the same data root, then its agent from saved state. */
  async restartHost(host: TestHost): Promise<void> {
    if (host.up) throw new Error(`${host.name} is running; killHost first`);
    await killProcessesOf(host.owner);
    host.engine = (await startEngine(host)).docker;
    await this.startAgent(host, ['run']);
    host.up = true;
  }

  /** Drops the host's traffic: arriving, leaving or both (control plane, other hosts, its containers). */
  partition(host: TestHost, direction: Direction = 'both'): Promise<void> {
    return partitionHost(host.name, direction);
  }

  heal(host: TestHost): Promise<void> {
    return healHost(host.name);
  }

  /** Counts from now the packets between hosts on the bridge that match (iptables match arguments). */
  countBetweenHosts(match: string[]): Promise<() => Promise<number>> {
    if (!this.names) throw new Error('countBetweenHosts: the cluster has not started');
    return countBetweenHosts(this.names, match);
  }

  /** The docker CLI against the control plane. */
  docker(args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return docker(args, this.cli, { timeoutMs });
  }

  /** The docker CLI against one host's own engine. */
  hostDocker(host: TestHost, args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return docker(args, { DOCKER_HOST: host.engineUrl }, { timeoutMs });
  }

  private async mustDocker(args: string[]): Promise<string> {
    const res = await this.docker(args);
    if (res.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
    return res.stdout;
  }

  /** Removes everything the run made; idempotent, and safe after a start that failed part way. */
  async stop(): Promise<void> {
    if (this.names) await removeRun(this.names);
  }
}

/** One HostCluster of `count` hosts for a test file: started before its tests, removed after. */
export function useHostCluster(count: number, opts: HostClusterOptions = {}): HostCluster {
  const cluster = new HostCluster(opts);
  beforeAll(() => cluster.start(count), 180_000);
  afterAll(() => cluster.stop(), 60_000);
  return cluster;
}
