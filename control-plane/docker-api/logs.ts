/**
 * `docker service logs` and `GET /tasks/{id}/logs`: asks each node with tasks for their logs (a
 * log_requests row per node, which its long-poll sees at once) and relays what the agents post,
 * from log_chunks, as Docker's stdcopy stream. See agent-api/logs.ts for the other half.
 */
import { and, eq, gt, inArray, isNull, lte, ne } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { type AppEnv, writeCluster } from '../app-env.ts';
import type { AppDeps } from '../deps.ts';
import { decodeLogFrames, encodeLogFrame, splitAgentPayload, STDERR, STDOUT } from '../../protocol/log-frames.ts';
import { dropExpiredLogs } from '../log-relay/index.ts';
import { bumpIndex, type Tx } from '../db/database.ts';
import { logChunks, logRequests, nodes, tasks, type TaskState } from '../db/schema/index.ts';
import { invalid } from '../errors.ts';
import { newId } from '../ids.ts';
import { findService, findTask } from './lookup.ts';

/** Tasks that may have a container on their node, and so logs. */
const WITH_CONTAINER: TaskState[] = ['preparing', 'starting', 'running', 'complete', 'shutdown', 'failed'];
/** Tasks a follow picks up after it began: their container surely exists by now. */
const STARTED: TaskState[] = ['running', 'complete', 'shutdown', 'failed'];

interface LogOptions {
  follow: boolean;
  tail: number | null;
  timestamps: boolean;
  details: boolean;
  since: number | null;
  stdout: boolean;
  stderr: boolean;
}

const flag = (v: string | undefined) => v === '1' || v === 'true';

function logOptions(c: Context): LogOptions {
  const q = (name: string) => c.req.query(name);
  const tailRaw = q('tail') ?? 'all';
  if (tailRaw !== 'all' && tailRaw !== '' && !/^\d+$/.test(tailRaw)) throw invalid(`invalid tail '${tailRaw}': expected a number of lines or "all"`);
  const sinceRaw = q('since') ?? '';
  const since = sinceRaw === '' ? null : Number(sinceRaw);
  if (since !== null && !Number.isFinite(since)) throw invalid(`invalid since '${sinceRaw}': expected a Unix timestamp`);
  const opts = {
    follow: flag(q('follow')),
    tail: tailRaw === 'all' || tailRaw === '' ? null : Number(tailRaw),
    timestamps: flag(q('timestamps')),
    details: flag(q('details')),
    since: since && since > 0 ? since : null,
    stdout: flag(q('stdout')),
    stderr: flag(q('stderr')),
  };
  if (!opts.stdout && !opts.stderr) throw invalid('Bad parameters: you must choose at least one stream');
  return opts;
}

interface TaskOnNode {
  id: string;
  nodeId: string;
  hostname: string;
}

interface OpenRequest {
  id: string;
  nodeId: string;
  hostname: string;
  taskIds: string[];
}

/** A service's (or one task's) tasks that may have logs, with their node; down nodes cannot answer. */
function tasksWithLogs(deps: AppDeps, clusterId: string, scope: { serviceId: string } | { taskId: string }, states = WITH_CONTAINER) {
  return deps.database.db
    .select({ id: tasks.id, nodeId: tasks.nodeId, hostname: nodes.hostname })
    .from(tasks)
    .innerJoin(nodes, eq(nodes.id, tasks.nodeId))
    .where(
      and(
        eq(tasks.clusterId, clusterId),
        'serviceId' in scope ? eq(tasks.serviceId, scope.serviceId) : eq(tasks.id, scope.taskId),
        inArray(tasks.state, states),
        ne(nodes.state, 'down'),
      ),
    )
    .orderBy(tasks.slot, tasks.createdAt) as Promise<TaskOnNode[]>;
}

/** One request per node holding some of the tasks, written with an index bump so each node's long-poll returns at once. */
async function askNodes(deps: AppDeps, clusterId: string, serviceId: string, taskRows: TaskOnNode[], opts: LogOptions): Promise<OpenRequest[]> {
  const byNode = new Map<string, OpenRequest>();
  for (const t of taskRows) {
    let r = byNode.get(t.nodeId);
    if (!r) byNode.set(t.nodeId, (r = { id: newId(), nodeId: t.nodeId, hostname: t.hostname, taskIds: [] }));
    r.taskIds.push(t.id);
  }
  const requests = [...byNode.values()];
  if (requests.length === 0) return requests;
  const now = deps.now();
  await writeCluster(deps, clusterId, async (tx) => {
    await dropExpiredLogs(tx, clusterId, now);
    const index = await bumpIndex(tx, clusterId);
    await tx.insert(logRequests).values(
      requests.map((r) => ({
        id: r.id,
        clusterId,
        nodeId: r.nodeId,
        serviceId,
        taskIds: r.taskIds,
        follow: opts.follow,
        tail: opts.tail,
        timestamps: opts.timestamps,
        since: opts.since,
        createdIndex: index,
        expiresAt: now + deps.config.logRelay.requestTtlMs,
        createdAt: now,
      })),
    );
  });
  return requests;
}

const encoder = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function details(nodeId: string, serviceId: string, taskId: string): string {
  return `com.docker.swarm.node.id=${nodeId},com.docker.swarm.service.id=${serviceId},com.docker.swarm.task.id=${taskId}`;
}

type Sink = ReadableStreamDefaultController<Uint8Array>;

/**
 * One client's log stream: reads its requests' chunks in order, formats them as dockerd does,
 * renews the requests while the client stays, and closes them when it leaves or all is sent.
 * With follow on a service, tasks that start later are asked for too.
 */
class LogStream {
  private cursor = 0;
  private finished = false;
  private lastProgress: number;
  private lastRenewal: number;
  private lastTaskScan: number;
  private pendingNodes: number;

  constructor(
    private readonly deps: AppDeps,
    private readonly clusterId: string,
    private readonly serviceId: string,
    private readonly requests: OpenRequest[],
    private readonly opts: LogOptions,
    private readonly signal: AbortSignal,
    /** For a service's stream: new tasks join a follow. */
    private readonly followsService: boolean,
  ) {
    this.lastProgress = this.lastRenewal = this.lastTaskScan = deps.now();
    this.pendingNodes = requests.length;
  }

  private get ids() {
    return this.requests.map((r) => r.id);
  }

  /** Fills the response with the next batch, or ends it. */
  async pull(sink: Sink): Promise<void> {
    try {
      while (!this.signal.aborted && !this.finished) {
        // Which nodes are done is read before the chunks: a done mark commits with or after the node's last chunk.
        const unfinished = this.opts.follow ? undefined : await this.unfinished();
        const rows = this.requests.length === 0 ? [] : await this.deps.database.db
          .select({ id: logChunks.id, requestId: logChunks.requestId, data: logChunks.data })
          .from(logChunks)
          .where(and(inArray(logChunks.requestId, this.ids), gt(logChunks.id, this.cursor)))
          .orderBy(logChunks.id)
          .limit(16);
        const now = this.deps.now();
        if (rows.length > 0) {
          this.cursor = rows[rows.length - 1]!.id;
          this.lastProgress = now;
          const out = concat(rows.flatMap((r) => this.format(r.requestId, r.data)));
          if (out.length === 0) continue;
          return sink.enqueue(out);
        }
        if (unfinished) {
          if (unfinished.length === 0) return await this.end(sink, 'complete');
          if (unfinished.length < this.pendingNodes) {
            this.pendingNodes = unfinished.length;
            this.lastProgress = now;
          }
          if (now - this.lastProgress >= this.deps.config.logRelay.idleTimeoutMs) {
            sink.enqueue(concat(unfinished.map((r) => this.missingNotice(r))));
            return await this.end(sink, 'timeout');
          }
        }
        if (now - this.lastRenewal >= this.deps.config.logRelay.renewEveryMs) await this.renew(now);
        if (this.opts.follow && this.followsService && now - this.lastTaskScan >= this.deps.config.logRelay.taskScanMs) await this.askForNewTasks(now);
        await this.deps.logArrivals.wait(this.ids, this.deps.config.logRelay.pollMs, this.signal);
      }
      await this.end(sink, 'client gone');
    } catch (err) {
      await this.close('error').catch(() => undefined);
      sink.error(err);
    }
  }

  private async end(sink: Sink, reason: 'complete' | 'timeout' | 'client gone') {
    await this.close(reason);
    try {
      sink.close();
    } catch {
      // Already closed by a cancel.
    }
  }

  private async unfinished(): Promise<OpenRequest[]> {
    const rows = await this.deps.database.db
      .select({ id: logRequests.id })
      .from(logRequests)
      .where(and(inArray(logRequests.id, this.ids), isNull(logRequests.doneAt)));
    const open = new Set(rows.map((r) => r.id));
    return this.requests.filter((r) => open.has(r.id));
  }

  /** Agent frames → dockerd's: `[timestamp ]<details> <line>` per frame, on the client's streams. */
  private format(requestId: string, data: Uint8Array): Uint8Array[] {
    const request = this.requests.find((r) => r.id === requestId)!;
    const out: Uint8Array[] = [];
    for (const frame of decodeLogFrames(data)) {
      if ((frame.stream === STDOUT && !this.opts.stdout) || (frame.stream === STDERR && !this.opts.stderr)) continue;
      const { taskId, timestamp, line } = splitAgentPayload(frame.payload);
      const prefix = (this.opts.timestamps ? `${timestamp} ` : '') + (this.opts.details ? `${details(request.nodeId, this.serviceId, taskId)} ` : '');
      out.push(encodeLogFrame(frame.stream, concat([encoder.encode(prefix), line])));
    }
    return out;
  }

  /** A stderr line in the first task's name, so the CLI shows which node's logs are missing. */
  private missingNotice(r: OpenRequest): Uint8Array {
    const seconds = Math.round(this.deps.config.logRelay.idleTimeoutMs / 1000);
    const message = `swarmlet: node ${r.hostname} sent no logs within ${seconds} s; they are missing here (is its swarm-agent running?)\n`;
    const prefix =
      (this.opts.timestamps ? `${new Date(this.deps.now()).toISOString()} ` : '') +
      (this.opts.details ? `${details(r.nodeId, this.serviceId, r.taskIds[0]!)} ` : '');
    return encodeLogFrame(STDERR, encoder.encode(prefix + message));
  }

  /** Tasks that started after the follow began (a scale-up, a replacement): their whole log. */
  private async askForNewTasks(now: number): Promise<void> {
    this.lastTaskScan = now;
    const covered = new Set(this.requests.flatMap((r) => r.taskIds));
    const fresh = (await tasksWithLogs(this.deps, this.clusterId, { serviceId: this.serviceId }, STARTED)).filter((t) => !covered.has(t.id));
    if (fresh.length === 0) return;
    this.requests.push(...(await askNodes(this.deps, this.clusterId, this.serviceId, fresh, { ...this.opts, tail: null, since: null })));
  }

  /** Keeps the requests alive while the client stays, and drops the chunks already sent. */
  private async renew(now: number): Promise<void> {
    this.lastRenewal = now;
    await this.deps.database.write(async (tx) => {
      await tx
        .update(logRequests)
        .set({ expiresAt: now + this.deps.config.logRelay.requestTtlMs })
        .where(and(inArray(logRequests.id, this.ids), isNull(logRequests.closedAt)));
      await tx.delete(logChunks).where(and(inArray(logChunks.requestId, this.ids), lte(logChunks.id, this.cursor)));
    });
  }

  /**
   * Ends the requests. Those a node still serves are closed with an index bump, so the agent's
   * long-poll returns and it stops; finished ones are deleted without waking anyone.
   */
  async close(reason: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.requests.length === 0) return;
    const now = this.deps.now();
    const open = (await this.unfinished().catch(() => this.requests)).map((r) => r.id);
    const done = this.ids.filter((id) => !open.includes(id));
    const write = async (tx: Tx) => {
      await tx.delete(logChunks).where(inArray(logChunks.requestId, this.ids));
      if (done.length) await tx.delete(logRequests).where(inArray(logRequests.id, done));
      if (open.length) {
        const index = await bumpIndex(tx, this.clusterId);
        // Kept a little while, closed, so the node's assignments index does not fall back meanwhile.
        await tx
          .update(logRequests)
          .set({ closedAt: now, closedIndex: index, expiresAt: now + this.deps.config.logRelay.renewEveryMs })
          .where(inArray(logRequests.id, open));
      }
    };
    if (open.length) await writeCluster(this.deps, this.clusterId, write);
    else await this.deps.database.write(write);
    if (reason === 'error') this.deps.log.error('log stream failed; its log requests are closed', { service: this.serviceId });
  }
}

type WriteHead = (status: number, headers?: Record<string, unknown>) => unknown;

/**
 * dockerd sends log streams without a Content-Type, but @hono/node-server gives every body
 * without one "text/plain". On Node (its bindings carry the ServerResponse) the header is taken
 * out as the head is written; other runtimes add none.
 */
function withoutDefaultContentType(c: Context<AppEnv>): void {
  const outgoing = (c.env as { outgoing?: { writeHead: WriteHead } } | undefined)?.outgoing;
  if (!outgoing || typeof outgoing.writeHead !== 'function') return;
  const writeHead = outgoing.writeHead;
  outgoing.writeHead = function (this: unknown, status, headers) {
    if (headers && typeof headers === 'object') for (const key of Object.keys(headers)) if (key.toLowerCase() === 'content-type') delete headers[key];
    return writeHead.call(this, status, headers);
  };
}

async function relayLogs(c: Context<AppEnv>, serviceId: string, scope: { serviceId: string } | { taskId: string }): Promise<Response> {
  const { deps, cluster } = c.var;
  const opts = logOptions(c);
  const requests = await askNodes(deps, cluster.id, serviceId, await tasksWithLogs(deps, cluster.id, scope), opts);
  withoutDefaultContentType(c);
  const followsService = 'serviceId' in scope;
  // Nothing to ask (no task has run yet): an empty stream, or for a follow one that waits for tasks.
  if (requests.length === 0 && !(opts.follow && followsService)) return new Response(null, { status: 200 });
  const stream = new LogStream(deps, cluster.id, serviceId, requests, opts, c.req.raw.signal, followsService);
  const body = new ReadableStream<Uint8Array>({
    pull: (sink) => stream.pull(sink),
    cancel: () => stream.close('client gone'),
  });
  return new Response(body, { status: 200 });
}

export const serviceLogRoutes = new Hono<AppEnv>()
  .get('/services/:ref/logs', async (c) => {
    const { deps, cluster } = c.var;
    const service = await findService(deps.database.db, cluster.id, c.req.param('ref'));
    return relayLogs(c, service.id, { serviceId: service.id });
  })
  .get('/tasks/:ref/logs', async (c) => {
    const { deps, cluster } = c.var;
    const task = await findTask(deps.database.db, cluster.id, c.req.param('ref'));
    return relayLogs(c, task.serviceId, { taskId: task.id });
  });
