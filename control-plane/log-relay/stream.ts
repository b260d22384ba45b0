import { and, gt, inArray } from 'drizzle-orm';
import type { AppDeps } from '../deps.ts';
import { logChunks } from '../db/schema/index.ts';
import { decodeLogFrames, encodeLogFrame, splitAgentPayload, STDERR, STDOUT } from '../../protocol/log-frames.ts';
import type { LogOptions } from './options.ts';
import { askNodes, closeRequests, type OpenRequest, renewRequests, STARTED, tasksWithLogs, unfinishedIds } from './requests.ts';

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

/** Only an error is worth a log line: the others are how streams end. */

/**
 * One client's log stream: reads its requests' chunks in order, formats them as dockerd does,
 * renews the requests while the client stays, and closes them when it leaves or all is sent.
 * With follow on a service, tasks that start later are asked for too.
 */
export class LogStream {
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
    const relay = this.deps.config.logRelay;
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
          if (unfinished.length === 0) return await this.end(sink);
          if (unfinished.length < this.pendingNodes) {
            this.pendingNodes = unfinished.length;
            this.lastProgress = now;
          }
          if (now - this.lastProgress >= relay.idleTimeoutMs) {
            sink.enqueue(concat(unfinished.map((r) => this.missingNotice(r))));
            return await this.end(sink);
          }
        }
        if (now - this.lastRenewal >= relay.renewEveryMs) {
          this.lastRenewal = now;
          await renewRequests(this.deps, this.ids, this.cursor, now);
        }
        if (this.opts.follow && this.followsService && now - this.lastTaskScan >= relay.taskScanMs) await this.askForNewTasks(now);
        await this.deps.logArrivals.wait(this.ids, relay.pollMs, this.signal);
      }
      await this.end(sink);
    } catch (err) {
      this.deps.log.error('log stream failed; closing its log requests', { service: this.serviceId, error: err });
      await this.close().catch(() => undefined);
      sink.error(err);
    }
  }

  private async end(sink: Sink) {
    await this.close();
    try {
      sink.close();
    } catch {
      // Already closed by a cancel.
    }
  }

  private async unfinished(): Promise<OpenRequest[]> {
    const open = await unfinishedIds(this.deps.database.db, this.ids);
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
    const fresh = (await tasksWithLogs(this.deps.database.db, this.clusterId, { serviceId: this.serviceId }, STARTED)).filter((t) => !covered.has(t.id));
    if (fresh.length === 0) return;
    this.requests.push(...(await askNodes(this.deps, this.clusterId, this.serviceId, fresh, { ...this.opts, tail: null, since: null })));
  }

  /** Lets the nodes go: at the end, or when the client leaves mid-way (the stream's cancel). */
  async close(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.requests.length === 0) return;
    await closeRequests(this.deps, this.clusterId, this.ids);
  }
}
