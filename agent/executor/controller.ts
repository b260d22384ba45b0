import type Dockerode from 'dockerode';
import type { Assignment, OverlayNetwork } from '../../protocol/agent-api.ts';
import type { PortConfig } from '../../protocol/task-spec.ts';
import { engineMessage, engineStatus } from '../docker.ts';
import type { Logger } from '../../protocol/log.ts';
import { overlayNetworkName } from '../mesh/names.ts';
import { containerCreateOptions, endpointConfig, imageOf, splitAttachments } from './container-spec.ts';
import { ownedFilter } from './labels.ts';
import { mountTaskFiles, removeTaskFiles } from './task-files.ts';

/** What the engine says about a task's container. */
export interface ContainerObservation {
  id: string;
  /** Docker's State.Status: created, running, paused, restarting, removing, exited, dead. */
  status: string;
  running: boolean;
  pid: number;
  exitCode: number;
  /** State.Error: why the engine could not run it, when it could not. */
  error: string;
  oomKilled: boolean;
  /** none when neither the spec nor the image defines a healthcheck. */
  health: 'none' | 'starting' | 'healthy' | 'unhealthy';
  ports: PortConfig[];
}

/** An error that retrying the same step will not fix: the task ends (rejected or failed). */
export class FatalTaskError extends Error {
  override name = 'FatalTaskError';
}

/**
 * The engine operations behind one task, after swarmkit's exec.Controller. Every method is
 * idempotent, so a step can be repeated after a crash or a lost answer.
 */
export interface TaskController {
  inspect(): Promise<ContainerObservation | undefined>;
  /** Makes sure the image is here and the container exists (created, not started). */
  prepare(): Promise<void>;
  start(): Promise<void>;
  stop(graceMs: number): Promise<void>;
  remove(): Promise<void>;
}

const isGone = (err: unknown) => engineStatus(err) === 404;

/** What makes a task's overlay networks exist on the engine (the node's overlay mesh). */
export interface NetworkAttacher {
  /** Answers the networks, in the order asked (their gateways are the hosts' DNS servers). */
  ensureNetworks(networkIds: string[]): Promise<OverlayNetwork[]>;
}

/** Runs one task's container on the local Docker engine. */
export class DockerTaskController implements TaskController {
  private containerId: string | undefined;

  constructor(
    private readonly docker: Dockerode,
    private readonly nodeId: string,
    private assignment: Assignment,
    private readonly log: Logger,
    private readonly networks?: NetworkAttacher,
  ) {}

  update(assignment: Assignment) {
    this.assignment = assignment;
  }

  /** The container carrying this task's labels, found by label so a restarted agent adopts it. */
  private async findContainer(): Promise<string | undefined> {
    if (this.containerId) return this.containerId;
    const found = await this.docker.listContainers({ all: true, filters: ownedFilter(this.nodeId, this.assignment.taskId) });
    this.containerId = found[0]?.Id;
    return this.containerId;
  }

  async inspect(): Promise<ContainerObservation | undefined> {
    const id = await this.findContainer();
    if (!id) return undefined;
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (err) {
      if (!isGone(err)) throw err;
      this.containerId = undefined;
      return undefined;
    }
    const s = info.State;
    const ports: ContainerObservation['ports'] = [];
    for (const [key, binds] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
      const [target, proto] = key.split('/');
      for (const b of binds ?? []) {
        if (b.HostIp && b.HostIp !== '0.0.0.0') continue; // one entry per port, not per address family
        ports.push({ Protocol: proto === 'udp' || proto === 'sctp' ? proto : 'tcp', TargetPort: Number(target), PublishedPort: Number(b.HostPort), PublishMode: 'host' });
      }
    }
    return {
      id: info.Id,
      status: s.Status,
      running: s.Running,
      pid: s.Pid,
      exitCode: s.ExitCode,
      error: s.Error ?? '',
      oomKilled: s.OOMKilled,
      health: (s.Health?.Status as ContainerObservation['health']) || 'none',
      ports,
    };
  }

  private async ensureImage(image: string) {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (err) {
      if (!isGone(err)) throw err;
    }
    this.log.info('pulling image', { image, task: this.assignment.taskId });
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
      );
      await this.docker.getImage(image).inspect();
    } catch (err) {
      if (engineStatus(err) === undefined && !/not found|denied|manifest|pull access|no such host|lookup|dial|timeout/i.test(engineMessage(err))) throw err;
      throw new FatalTaskError(`No such image: ${image} (not on this host and could not be pulled: ${engineMessage(err)})`);
    }
  }

  async prepare() {
    if (await this.findContainer()) return;
    let image: string;
    try {
      image = imageOf(this.assignment);
    } catch (err) {
      throw new FatalTaskError((err as Error).message);
    }
    await this.ensureImage(image);
    const attachments = this.assignment.networks ?? [];
    let resolver: string | undefined;
    if (attachments.length) {
      if (!this.networks) throw new FatalTaskError('this agent cannot attach tasks to overlay networks');
      // A plain error: the network may only be missing from a view not yet received; the step retries.
      const networks = await this.networks.ensureNetworks(attachments.map((n) => n.networkId));
      const own = splitAttachments(this.assignment).first;
      resolver = networks.find((n) => n.id === own?.networkId)?.gateway;
    }
    try {
      const fileMounts = await mountTaskFiles(this.assignment.taskId, this.assignment.files ?? []);
      const container = await this.docker.createContainer(containerCreateOptions(this.assignment, this.nodeId, resolver, fileMounts));
      this.containerId = container.id;
      await this.connectFurtherNetworks(container.id);
    } catch (err) {
      const status = engineStatus(err);
      if (status === 409 && (await this.findContainer())) return; // created by a step that lost its answer
      if (status !== undefined) throw new FatalTaskError(`create container: ${engineMessage(err)}`);
      throw err;
    }
  }

  /** Networks after the first, before the container starts; on failure no half-attached container stays. */
  private async connectFurtherNetworks(id: string) {
    try {
      for (const attachment of splitAttachments(this.assignment).further) {
        await this.docker.getNetwork(overlayNetworkName(attachment.networkId)).connect({ Container: id, EndpointConfig: endpointConfig(attachment) });
      }
    } catch (err) {
      await this.docker.getContainer(id).remove({ force: true }).catch(() => undefined);
      this.containerId = undefined;
      throw new Error(`connect container to its networks: ${engineMessage(err)}`);
    }
  }

  async start() {
    const id = await this.findContainer();
    if (!id) throw new FatalTaskError('container was removed before it started');
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      const status = engineStatus(err);
      if (status === 304) return; // already started
      if (status !== undefined) throw new FatalTaskError(`starting container failed: ${engineMessage(err)}`);
      throw err;
    }
  }

  async stop(graceMs: number) {
    const id = await this.findContainer();
    if (!id) return;
    try {
      // The engine takes whole seconds; round up so a short grace period is not cut to zero.
      await this.docker.getContainer(id).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (err) {
      const status = engineStatus(err);
      if (status === 304 || status === 404) return;
      throw err;
    }
  }

  async remove() {
    const id = await this.findContainer();
    if (!id) return removeTaskFiles(this.assignment.taskId);
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const status = engineStatus(err);
      // 409: removal already in progress.
      if (status !== 404 && status !== 409) throw err;
    }
    this.containerId = undefined;
    await removeTaskFiles(this.assignment.taskId);
  }
}
