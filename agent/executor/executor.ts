import type Dockerode from 'dockerode';
import type { Assignment, TaskReport } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';
import { ContainerEvents } from './container-events.ts';
import { DockerTaskController, type NetworkAttacher } from './controller.ts';
import { TASK_LABEL, isOwned, ownedFilter } from './labels.ts';
import { TaskRunner } from './task-runner.ts';
import type { DrainWatch } from './drain-watch.ts';

export interface ExecutorOptions {
  docker: Dockerode;
  nodeId: string;
  log: Logger;
  report: (r: TaskReport) => void;
  resyncMs?: number;
  /** Makes a task's overlay networks exist on the engine before its container is created. */
  networks?: NetworkAttacher;
  /** Ends a stopping backend's drain once no host routes to it. */
  drains?: DrainWatch;
}

/**
 * Converges the engine to the node's assignment set: one runner per task, poked by new
 * assignments, by engine events, and by a periodic resync that also finds containers of tasks the
 * node no longer has (left over from a crash, a lost answer, or an agent that was down).
 */
export class Executor {
  private readonly runners = new Map<string, TaskRunner>();
  private readonly events: ContainerEvents;
  private resyncTimer: ReturnType<typeof setInterval> | undefined;
  /** Until the first assignment set arrives, no container counts as a leftover. */
  private haveAssignments = false;
  private resyncing: Promise<void> | undefined;

  constructor(private readonly opts: ExecutorOptions) {
    this.events = new ContainerEvents(opts.docker, opts.nodeId, opts.log, (taskId) => this.onEvent(taskId), () => void this.resync());
  }

  start() {
    this.events.start();
    this.resyncTimer = setInterval(() => void this.resync(), this.opts.resyncMs ?? 10_000);
  }

  stop() {
    this.events.stop();
    clearInterval(this.resyncTimer);
    for (const r of this.runners.values()) r.close();
  }

  private runnerFor(taskId: string, a: Assignment | undefined): TaskRunner {
    let runner = this.runners.get(taskId);
    if (!runner) {
      const assignment = a ?? leftoverAssignment(taskId);
      const ctlr = new DockerTaskController(this.opts.docker, this.opts.nodeId, assignment, this.opts.log, this.opts.networks);
      const name = a ? `${a.serviceName}.${a.slot || this.opts.nodeId}` : undefined;
      runner = new TaskRunner(taskId, a, ctlr, this.opts.report, this.opts.log, name, this.opts.drains);
      this.runners.set(taskId, runner);
    }
    return runner;
  }

  /** The complete set of this node's tasks, as the control plane last sent it. */
  setAssignments(tasks: Assignment[]) {
    const wanted = new Set(tasks.map((t) => t.taskId));
    for (const a of tasks) {
      const existing = this.runners.get(a.taskId);
      if (existing) existing.update(a);
      else this.runnerFor(a.taskId, a).poke();
    }
    for (const [taskId, runner] of this.runners) if (!wanted.has(taskId)) runner.leave();
    const first = !this.haveAssignments;
    this.haveAssignments = true;
    this.forgetFinished();
    if (first) void this.resync();
  }

  private onEvent(taskId: string) {
    const runner = this.runners.get(taskId);
    if (runner) runner.poke();
    else if (this.haveAssignments) void this.resync();
  }

  private forgetFinished() {
    for (const [taskId, runner] of this.runners) {
      if (runner.done) {
        runner.close();
        this.runners.delete(taskId);
      }
    }
  }

  /** Pokes every task and takes on containers of tasks the node no longer has. */
  resync(): Promise<void> {
    this.resyncing ??= this.resyncOnce().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async resyncOnce() {
    this.forgetFinished();
    for (const runner of this.runners.values()) runner.poke();
    if (!this.haveAssignments) return;
    let containers: Dockerode.ContainerInfo[];
    try {
      containers = await this.opts.docker.listContainers({ all: true, filters: ownedFilter(this.opts.nodeId) });
    } catch (err) {
      this.opts.log.warn('cannot list containers; will retry', { error: err });
      return;
    }
    for (const c of containers) {
      // The filter already asks for our labels; check again: never touch anyone else's container.
      if (!isOwned(c.Labels, this.opts.nodeId)) continue;
      const taskId = c.Labels[TASK_LABEL]!;
      if (this.runners.has(taskId)) continue;
      this.opts.log.info('removing container of a task this node no longer has', { task: taskId, container: c.Id.slice(0, 12) });
      this.runnerFor(taskId, undefined).poke();
    }
  }

  /** Stops and removes every task container of this node (the node left the cluster). */
  async removeAll() {
    const containers = await this.opts.docker.listContainers({ all: true, filters: ownedFilter(this.opts.nodeId) });
    await Promise.all(
      containers
        .filter((c) => isOwned(c.Labels, this.opts.nodeId))
        .map(async (c) => {
          const container = this.opts.docker.getContainer(c.Id);
          await container.stop({ t: 10 }).catch(() => undefined);
          await container.remove({ force: true }).catch(() => undefined);
        }),
    );
  }

  /** Task IDs and states, for logs and tests. */
  snapshot() {
    return [...this.runners.values()].map((r) => ({ taskId: r.taskId, state: r.state }));
  }
}

/** Enough of an assignment to find, stop and remove a leftover container. */
function leftoverAssignment(taskId: string): Assignment {
  return { taskId, serviceId: '', serviceName: '', slot: 0, desiredState: 'remove', state: 'orphaned', spec: {}, ports: [], networks: [] };
}

