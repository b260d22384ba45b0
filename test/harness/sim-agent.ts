import {
  type Assignment,
  type AssignmentsAnswer,
  type AssignmentsResponse,
  isUnchanged,
  type JoinResponse,
  type NodeInfo,
  type StatusResponse,
  type TaskReport,
} from '../../protocol/agent-api.ts';
import type { TaskState } from '../../control-plane/db/schema/index.ts';
import { type Dispatcher, request } from 'undici';

const TERMINAL = new Set<TaskState>(['complete', 'shutdown', 'failed', 'rejected', 'orphaned']);

/** The answer of an agent-API call, kept whole so tests can look at refusals. */
export interface AgentReply<T> {
  status: number;
  body: T;
}

export interface SimAgentOptions {
  /** Report accepted→running for new tasks and shutdown for stopped ones (default true). */
  autoRun?: boolean;
  /** Overrides the heartbeat period the control plane asked for. */
  heartbeatMs?: number;
  /** The long-poll `wait` (default 10s). */
  waitMs?: number;
}

let counter = 0;

/** A host as an agent describes it; each call gets a unique hostname. */
export function nodeInfo(extra: Partial<NodeInfo> = {}): NodeInfo {
  counter++;
  return {
    hostname: `sim-${process.pid}-${counter}`,
    nanoCpus: 4e9,
    memoryBytes: 8 * 1024 ** 3,
    os: 'linux',
    arch: 'x86_64',
    engineVersion: '20.10.24',
    addr: `10.99.${(counter >> 8) & 255}.${counter & 255}`,
    ...extra,
  };
}

/**
 * A simulated swarm-agent: joins with a real token over HTTP, long-polls its assignments, reports
 * its tasks forward (accepted → running, and shutdown when told to stop) and heartbeats; a test can
 * stop its heartbeats to play a dead host, or send reports of its own to play a faulty one.
 */
export class SimAgent {
  nodeId = '';
  clusterId = '';
  credential = '';
  heartbeatPeriodMs = 5000;
  /** The last assignments answer and its index. */
  index = 0;
  tasks: Assignment[] = [];
  /**
   * Every completed long-poll: when it returned, with which index, how many tasks and of which
   * services (benchmarks and scale tests read this; the tasks themselves are not kept).
   */
  polls: Array<{ at: number; index: number; tasks: number; services: ReadonlySet<string> }> = [];
  /** When each heartbeat was sent and answered (wall ms): whether the agent or the control plane was late. */
  beats: Array<{ sent: number; answered: number }> = [];
  /** Answers other than 2xx by status, and requests that failed outright (as 0): why an agent fell behind. */
  refusals = new Map<number, number>();
  private running = false;
  private beating = false;
  private abort = new AbortController();
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  /** When a request last went out (wall ms): every request is a heartbeat, as swarm-agent counts it. */
  private lastSentAt = 0;
  private pollLoop: Promise<void> | undefined;
  private listeners = new Set<() => void>();
  /** What this agent last reported per task, so it reports each transition once. */
  private reported = new Map<string, TaskState>();

  constructor(
    readonly url: string,
    readonly info: NodeInfo,
    readonly opts: SimAgentOptions = {},
  ) {}

  /** Joins and starts long-polling and heartbeating. */
  static async start(url: string, token: string, info: NodeInfo = nodeInfo(), opts: SimAgentOptions = {}): Promise<SimAgent> {
    const agent = new SimAgent(url, info, opts);
    const reply = await agent.join(token);
    if (reply.status !== 200) throw new Error(`join failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    agent.run();
    return agent;
  }

  /** POST /agent/v1/join; on success the agent takes the node identity and credential. */
  async join(token: string): Promise<AgentReply<JoinResponse & { message?: string }>> {
    const res = await request(`${this.url}/agent/v1/join`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token, node: this.info }),
    });
    const body = (await res.body.json()) as JoinResponse & { message?: string };
    if (res.statusCode === 200) {
      this.nodeId = body.nodeId;
      this.clusterId = body.clusterId;
      this.credential = body.credential;
      this.heartbeatPeriodMs = this.opts.heartbeatMs ?? body.heartbeatPeriodMs;
    }
    return { status: res.statusCode, body };
  }

  /** Starts the long-poll loop and the heartbeat. */
  run(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.pollLoop = this.poll();
    this.resumeHeartbeat();
  }

  /** A call with this node's credential. */
  async call<T = any>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<AgentReply<T>> {
    // undici's request, as swarm-agent uses (agent/undici.ts): fetch's WHATWG objects cost a
    // thousand simulated agents in one process more CPU than the control plane they measure.
    this.lastSentAt = Date.now();
    const res = await request(`${this.url}/agent/v1${path}`, {
      method: method as Dispatcher.HttpMethod,
      headers: { Authorization: `Bearer ${this.credential}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) this.refusals.set(res.statusCode, (this.refusals.get(res.statusCode) ?? 0) + 1);
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** POST /agent/v1/status: a batch of reports (an empty batch is a heartbeat). */
  report(reports: Array<Omit<TaskReport, 'timestamp'> & { timestamp?: number }>): Promise<AgentReply<StatusResponse>> {
    return this.call<StatusResponse>('POST', '/status', { reports: reports.map((r) => ({ timestamp: Date.now(), ...r })) });
  }

  /** One assignments request (no waiting unless `index` and `wait` are given). */
  assignments(index = 0, wait?: string, signal?: AbortSignal): Promise<AgentReply<AssignmentsResponse>> {
    return this.call<AssignmentsResponse>('GET', `/assignments?index=${index}${wait ? `&wait=${wait}` : ''}`, undefined, signal);
  }

  /** A long-poll as swarm-agent asks it: briefly answered (unchanged) when it ends with nothing new. */
  briefAssignments(index: number, wait: string, signal?: AbortSignal): Promise<AgentReply<AssignmentsAnswer>> {
    return this.call<AssignmentsAnswer>('GET', `/assignments?index=${index}&wait=${wait}&brief=1`, undefined, signal);
  }

  /** The host falls silent (a dead host): no heartbeat, and no long-poll or report, since any request is one. */
  stopHeartbeat(): void {
    this.beating = false;
    clearTimeout(this.heartbeatTimer);
  }

  resumeHeartbeat(): void {
    if (this.beating) return;
    this.beating = true;
    const beat = async () => {
      if (!this.beating) return;
      const sent = Date.now();
      // As swarm-agent: no heartbeat when another request (the long-poll) went out within the half period.
      if (sent - this.lastSentAt >= this.halfPeriodMs() * 1.125) {
        await this.report([]).catch(() => undefined);
        this.beats.push({ sent, answered: Date.now() });
      }
      // Every half period, as swarm-agent beats: one late or lost beat leaves the node in time.
      if (this.beating) this.heartbeatTimer = setTimeout(beat, this.halfPeriodMs());
    };
    void beat();
  }

  /** Stops everything: heartbeats, the long-poll (aborted) and reporting. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopHeartbeat();
    this.abort.abort();
    await this.pollLoop?.catch(() => undefined);
  }

  /** Resolves when the agent's task set satisfies `predicate` (bounded). */
  waitFor(predicate: (tasks: Assignment[]) => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.tasks)) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`agent ${this.info.hostname}: condition not met within ${timeoutMs} ms; tasks ${JSON.stringify(this.tasks.map((t) => [t.taskId, t.state, t.desiredState]))}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Tasks the control plane wants running here. */
  get runningTasks(): Assignment[] {
    return this.tasks.filter((t) => t.desiredState === 'running');
  }

  private halfPeriodMs(): number {
    return Math.max(200, this.heartbeatPeriodMs / 2);
  }

  private async poll(): Promise<void> {
    while (this.running) {
      if (!this.beating) {
        await sleep(50);
        continue;
      }
      try {
        // At most half a heartbeat period, as swarm-agent asks: the poll is the heartbeat.
        const wait = `${Math.min(this.opts.waitMs ?? 10_000, this.halfPeriodMs())}ms`;
        const reply = this.index ? await this.briefAssignments(this.index, wait, this.abort.signal) : await this.assignments(0, undefined, this.abort.signal);
        if (reply.status !== 200) {
          await sleep(200);
          continue;
        }
        if (isUnchanged(reply.body)) {
          if (this.opts.heartbeatMs === undefined) this.heartbeatPeriodMs = reply.body.heartbeatPeriodMs;
          continue;
        }
        this.index = reply.body.index;
        this.tasks = reply.body.tasks;
        // As the real agent: the period the control plane hands out grows with the cluster.
        if (this.opts.heartbeatMs === undefined && reply.body.heartbeatPeriodMs) this.heartbeatPeriodMs = reply.body.heartbeatPeriodMs;
        const services = new Set(reply.body.tasks.map((t) => t.serviceId));
        this.polls.push({ at: performance.now(), index: reply.body.index, tasks: reply.body.tasks.length, services });
        for (const l of [...this.listeners]) l();
        if (this.opts.autoRun !== false && this.beating) await this.converge();
      } catch {
        if (!this.running) return;
        this.refusals.set(0, (this.refusals.get(0) ?? 0) + 1);
        await sleep(200);
      }
    }
  }

  /** What a real agent's executor would end up reporting for the current set. */
  private async converge(): Promise<void> {
    const reports: Array<{ taskId: string; state: TaskState }> = [];
    for (const t of this.tasks) {
      const done = this.reported.get(t.taskId) ?? t.state;
      if (TERMINAL.has(done) || TERMINAL.has(t.state)) continue;
      if (t.desiredState === 'running') {
        if (done !== 'running') for (const state of ['accepted', 'preparing', 'starting', 'running'] as const) reports.push({ taskId: t.taskId, state });
      } else {
        reports.push({ taskId: t.taskId, state: 'shutdown' });
      }
    }
    if (!reports.length) return;
    const reply = await this.report(reports.map((r) => ({ ...r, message: r.state })));
    if (reply.status !== 200) return;
    reply.body.results.forEach((r, i) => {
      if (r.ok) this.reported.set(r.taskId, reports[i]!.state);
    });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
