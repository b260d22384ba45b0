import { and, eq, inArray, sql } from 'drizzle-orm';
import type { AppDeps } from '../deps.ts';
import { bumpIndex, inIds, type Tx } from '../db/database.ts';
import { groupBy } from '../group-by.ts';
import { clusters, type DesiredState, isTerminal, nodes, services, stateRank, type TaskNetwork, tasks, type TaskState } from '../db/schema/index.ts';
import { publishesIngress } from '../swarm/ingress-ports.ts';
import { changesNames, namesChanged, onMesh } from '../swarm/mesh-changes.ts';
import type { StatusResponse, TaskReport } from '../../protocol/agent-api.ts';


/** What a report is judged against, and what its write decides on. */
type TaskRow = { nodeId: string | null; state: TaskState; desiredState: DesiredState; serviceId: string; networks: TaskNetwork[] | null };

/** A node heard from, and the applied index it reported (see StatusRequest.appliedIndex). */
interface Beat {
  clusterId: string;
  appliedIndex?: number;
}

interface Pending {
  clusterId: string;
  nodeId: string;
  reports: TaskReport[];
  resolve: (r: StatusResponse) => void;
  reject: (e: unknown) => void;
}

const isObject = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v));
/** A report's identity; its other fields are checked per report (malformed) when the batch is applied. */
export const isTaskReport = (r: unknown): r is TaskReport =>
  !!r && typeof r === 'object' && 'taskId' in r && typeof r.taskId === 'string' && 'state' in r && typeof r.state === 'string';

const isText = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.length <= 4096);

/**
 * What is wrong with the fields of a report the control plane would store, or undefined. Checked
 * per report, so one agent's malformed report cannot fail the batch it shares with other agents.
 */
function malformed(r: TaskReport): string | undefined {
  if (r.timestamp !== undefined && !(typeof r.timestamp === 'number' && Number.isFinite(r.timestamp) && r.timestamp >= 0)) {
    return 'timestamp must be milliseconds since the epoch';
  }
  if (!isText(r.message) || !isText(r.err)) return 'message and err must be strings of at most 4096 characters';
  if (!isObject(r.containerStatus) || !isObject(r.portStatus)) return 'containerStatus and portStatus must be objects';
  return undefined;
}

/** Why a report cannot be applied, or undefined when it moves the task forward. */
export function refuseReport(task: { nodeId: string | null; state: TaskState } | undefined, nodeId: string, report: TaskReport): string | undefined {
  if (!task || task.nodeId !== nodeId) return `task ${report.taskId} is not assigned to this node`;
  // A global task names its node before the scheduler has checked it fits there.
  if (task.state === 'new' || task.state === 'pending') return `task ${report.taskId} is not assigned to this node yet`;
  if (stateRank(report.state) < 0) return `unknown task state '${report.state}'`;
  const bad = malformed(report);
  if (bad) return `invalid report for task ${report.taskId}: ${bad}`;
  if (isTerminal(task.state)) return `task ${report.taskId} already ended (${task.state})`;
  if (stateRank(report.state) <= stateRank(task.state)) return `task state may only move forward (${task.state} → ${report.state} refused)`;
  return undefined;
}

/** Tasks written by one statement: a batch of a thousand agents' reports was 100,000 UPDATEs, each built by drizzle. */
const WRITE_CHUNK = 500;

/**
 * Writes accepted reports (each task's last) at one cluster index, WRITE_CHUNK tasks a statement:
 * the rows go as one JSON array, joined to the tasks by ID (UPDATE … FROM json_each). Status
 * objects are stored as the JSON text drizzle's json columns hold.
 */
async function writeReports(tx: Tx, accepted: Array<{ taskId: string; report: TaskReport }>, version: number, now: number): Promise<void> {
  for (let i = 0; i < accepted.length; i += WRITE_CHUNK) {
    const rows = accepted.slice(i, i + WRITE_CHUNK).map(({ taskId, report: r }) => ({
      id: taskId,
      state: r.state,
      message: r.message ?? r.state,
      err: r.err ?? null,
      containerStatus: r.containerStatus ? JSON.stringify(r.containerStatus) : null,
      portStatus: r.portStatus ? JSON.stringify(r.portStatus) : null,
      statusAt: Math.min(r.timestamp || now, now),
    }));
    await tx.run(sql`
      update ${tasks} set
        state = u.value ->> 'state', message = u.value ->> 'message', err = u.value ->> 'err',
        container_status = u.value ->> 'containerStatus', port_status = u.value ->> 'portStatus',
        status_at = u.value ->> 'statusAt', version = ${version}, updated_at = ${now}
      from json_each(${JSON.stringify(rows)}) as u
      where ${tasks.id} = u.value ->> 'id'`);
  }
}

/**
 * Coalesces heartbeats and task reports from every agent into one write transaction per short
 * interval: a busy cluster makes a few large commits instead of thousands of small ones.
 *
 * A bare heartbeat (no reports, no new applied index) is answered at once and written with the
 * next batch, at most `beatFlushMs` later: its answer says nothing the commit decides, and most of
 * a cluster's status requests are bare heartbeats, so they neither wait on the write queue nor
 * make commits of their own.
 */
export class StatusBatcher {
  private queue: Pending[] = [];
  private heartbeats = new Map<string, Beat>();
  /** The applied index last written per node by this instance: an unchanged one is not written again. */
  private readonly appliedWritten = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dueAt = Infinity;
  /** Nodes whose beats are being written now (taken from `heartbeats`, not yet committed). */
  private writing = new Set<string>();

  constructor(
    private readonly deps: Pick<AppDeps, 'database' | 'notifier' | 'now'>,
    private readonly intervalMs = 25,
    private readonly beatFlushMs = intervalMs,
  ) {}

  report(clusterId: string, nodeId: string, reports: TaskReport[], appliedIndex?: number): Promise<StatusResponse> {
    const known = this.heartbeats.get(nodeId)?.appliedIndex ?? this.appliedWritten.get(nodeId) ?? 0;
    const beat = { clusterId, appliedIndex: Math.max(appliedIndex ?? 0, this.heartbeats.get(nodeId)?.appliedIndex ?? 0) || undefined };
    if (this.intervalMs > 0 && !reports.length && (appliedIndex ?? 0) <= known) {
      this.heartbeats.set(nodeId, beat);
      this.schedule(this.beatFlushMs);
      return Promise.resolve({ results: [] });
    }
    return new Promise((resolve, reject) => {
      const pending = { clusterId, nodeId, reports, resolve, reject };
      // No coalescing (Workers): a request must not wait on a commit made from another request's
      // context, or the runtime cancels it as hung. Each report is its own transaction.
      if (this.intervalMs <= 0) return void this.apply([pending], new Map([[nodeId, beat]]));
      this.queue.push(pending);
      this.heartbeats.set(nodeId, beat);
      this.schedule(this.intervalMs);
    });
  }

  /**
   * The node made a request (any, authenticated): it is alive. Every request is a heartbeat, so an
   * agent whose long-polls come round within half a period sends no separate heartbeat, and its
   * one connection carries everything (a second, idle between beats, was a TLS handshake per beat).
   * Held in memory and written with the next batch, at most `beatFlushMs` late, as a bare
   * heartbeat is. Without coalescing (Workers) it is written here, once per `beatFlushMs` at most:
   * `lastHeartbeatAt` is the node's, as its request read it.
   */
  heard(clusterId: string, nodeId: string, lastHeartbeatAt: number | null): Promise<void> | undefined {
    if (this.intervalMs <= 0) {
      if ((lastHeartbeatAt ?? 0) > this.deps.now() - this.beatFlushMs) return undefined;
      return this.apply([], new Map([[nodeId, { clusterId }]]));
    }
    if (!this.heartbeats.has(nodeId)) this.heartbeats.set(nodeId, { clusterId });
    this.schedule(this.beatFlushMs);
    return undefined;
  }

  /**
   * Whether this instance heard from the node but has not committed it yet: the leader's pass may
   * run (in the write queue) before the flush that writes the beat, and must not take the node for
   * silent meanwhile.
   */
  heardUnwritten(nodeId: string): boolean {
    return this.heartbeats.has(nodeId) || this.writing.has(nodeId);
  }

  /** The next flush runs within `ms`: a report brings a heartbeats-only flush forward. */
  private schedule(ms: number) {
    const at = performance.now() + ms;
    if (this.timer && this.dueAt <= at) return;
    clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => void this.flush(), ms);
  }

  private async flush() {
    this.timer = undefined;
    this.dueAt = Infinity;
    const batch = this.queue;
    const beats = this.heartbeats;
    this.queue = [];
    this.heartbeats = new Map();
    const writing = new Set(beats.keys());
    for (const id of writing) this.writing.add(id);
    try {
      await this.apply(batch, beats);
    } finally {
      for (const id of writing) this.writing.delete(id);
    }
  }

  private async apply(batch: Pending[], beats: Map<string, Beat>) {
    const now = this.deps.now();
    const published = new Map<string, number>();
    // Whose long-polls each cluster's commit wakes: a reporting node when its task ended (a task
    // that is to stop leaves its answer, and the agent then removes its container); no node for a
    // task that only moved on towards running (the agent told us: its answer has nothing new);
    // every node (undefined) when a node came back as someone's peer, or when a task of a service
    // publishing ingress ports changed, since it is a routing-mesh backend in every node's answer.
    const concerned = new Map<string, Set<string> | undefined>();
    const concern = (clusterId: string, nodeId?: string) => {
      if (nodeId === undefined) concerned.set(clusterId, undefined);
      else if (!concerned.has(clusterId)) concerned.set(clusterId, new Set([nodeId]));
      else concerned.get(clusterId)?.add(nodeId);
    };
    const concernNoNode = (clusterId: string) => {
      if (!concerned.has(clusterId)) concerned.set(clusterId, new Set());
    };
    try {
      const results = await this.deps.database.write(async (tx) => {
        const indexFor = async (clusterId: string) => {
          const index = await bumpIndex(tx, clusterId);
          published.set(clusterId, index);
          return index;
        };
        // Liveness is observed state: a heartbeat moves no index unless the node comes back.
        const beating = [...beats.keys()];
        const revived = beating.length
          ? await tx.select({ id: nodes.id, clusterId: nodes.clusterId }).from(nodes).where(and(inArray(nodes.id, beating), inArray(nodes.state, ['down', 'unknown', 'disconnected'])))
          : [];
        if (beating.length) await tx.update(nodes).set({ lastHeartbeatAt: now }).where(inArray(nodes.id, beating));
        const applied = [...beats].filter(([id, b]) => b.appliedIndex && b.appliedIndex !== this.appliedWritten.get(id));
        if (applied.length) {
          const value = sql.join(applied.map(([id, b]) => sql`when ${id} then ${b.appliedIndex}`), sql` `);
          await tx
            .update(nodes)
            .set({ appliedIndex: sql`max(${nodes.appliedIndex}, case ${nodes.id} ${value} else 0 end)` })
            .where(inArray(nodes.id, applied.map(([id]) => id)));
        }
        for (const n of revived) {
          concern(n.clusterId, n.id);
          const index = await indexFor(n.clusterId);
          await tx.update(nodes).set({ state: 'ready', stateMessage: '', version: index, updatedAt: now }).where(eq(nodes.id, n.id));
          // Back in the peers of every node that routes to its tasks: their answers change too.
          if (await onMesh(tx, [n.id])) {
            concern(n.clusterId);
            await tx.update(clusters).set({ meshIndex: index }).where(eq(clusters.id, n.clusterId));
          }
        }

        const ids = batch.flatMap((p) => p.reports.map((r) => r.taskId));
        const current = new Map<string, TaskRow>();
        for (let i = 0; i < ids.length; i += 5000) {
          const rows = await tx
            .select({ id: tasks.id, nodeId: tasks.nodeId, state: tasks.state, desiredState: tasks.desiredState, serviceId: tasks.serviceId, networks: tasks.networks })
            .from(tasks)
            .where(inIds(tasks.id, ids.slice(i, i + 5000)));
          for (const r of rows) current.set(r.id, r);
        }
        /** The services whose tasks changed, with their cluster. */
        const changedServices = new Map<string, string>();
        // Each report is judged in order against the state the ones before it left; each task is
        // then written once, with its last accepted report (an agent sends accepted, preparing,
        // starting and running together, and no one can read the steps between within the batch).
        const accepted = new Map<string, { before: TaskRow; report: TaskReport; clusterId: string }>();
        const out: StatusResponse[] = [];
        for (const p of batch) {
          const res: StatusResponse = { results: [] };
          for (const r of p.reports) {
            const error = refuseReport(current.get(r.taskId), p.nodeId, r);
            res.results.push(error ? { taskId: r.taskId, ok: false, error } : { taskId: r.taskId, ok: true });
            if (error) continue;
            const task = current.get(r.taskId)!;
            if (isTerminal(r.state)) concern(p.clusterId, p.nodeId);
            else concernNoNode(p.clusterId);
            changedServices.set(task.serviceId, p.clusterId);
            accepted.set(r.taskId, { before: accepted.get(r.taskId)?.before ?? task, report: r, clusterId: p.clusterId });
            current.set(r.taskId, { ...task, state: r.state });
          }
          out.push(res);
        }
        for (const [clusterId, reports] of groupBy([...accepted], ([, a]) => a.clusterId)) {
          await writeReports(tx, reports.map(([taskId, { report }]) => ({ taskId, report })), await indexFor(clusterId), now);
        }
        for (const { before: task, report: r, clusterId } of accepted.values()) {
          if (task.networks && isTerminal(r.state)) {
            // Its addresses are free: no node routes to them any more.
            concern(clusterId);
            await tx.update(clusters).set({ meshIndex: await indexFor(clusterId) }).where(eq(clusters.id, clusterId));
          }
          if (task.networks && changesNames(task, { ...task, state: r.state })) {
            // Started or stopped answering to its names: every node on its networks resolves them.
            concern(clusterId);
            await namesChanged(tx, [task], await indexFor(clusterId));
          }
        }
        const serviceIds = [...changedServices.keys()];
        for (let i = 0; i < serviceIds.length; i += 400) {
          const rows = await tx
            .select({ id: services.id, endpointPorts: services.endpointPorts })
            .from(services)
            .where(inArray(services.id, serviceIds.slice(i, i + 400)));
          for (const s of rows) if (publishesIngress(s)) concern(changedServices.get(s.id)!);
        }
        return out;
      });
      for (const [id, b] of beats) if (b.appliedIndex) this.appliedWritten.set(id, b.appliedIndex);
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      // Nothing committed: the indexes taken were rolled back and are not published. The beats
      // (some already answered) go with the next batch, unless newer ones came meanwhile.
      for (const p of batch) p.reject(err);
      if (this.intervalMs > 0) {
        for (const [id, b] of beats) if (!this.heartbeats.has(id)) this.heartbeats.set(id, b);
        if (this.heartbeats.size) this.schedule(this.beatFlushMs);
      }
      return;
    }
    for (const [clusterId, index] of published) this.deps.notifier.publish(clusterId, index, concerned.get(clusterId));
  }
}
