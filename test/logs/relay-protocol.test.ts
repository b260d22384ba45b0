import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssignmentsResponse, LogRequest } from '../../protocol/agent-api.ts';
import { decodeLogFrames, encodeLogFrame } from '../../protocol/log-frames.ts';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import type { SimAgent } from '../harness/sim-agent.ts';
import { type SimCluster, startSimCluster, tasksWhere } from '../harness/sim-cluster.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

/**
 * The log relay's protocol over real HTTP against control plane processes: the docker CLI's
 * request on one side, a simulated agent answering its log requests on the other.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();
const QUERY = 'details=1&stderr=1&stdout=1&tail=all';

let cluster: SimCluster;
let agent: SimAgent;
let serviceId: string;
let taskIds: string[];

beforeAll(async () => {
  cluster = await startSimCluster();
  agent = await cluster.addAgent();
  serviceId = await cluster.api.createService(serviceSpec('logger', { replicas: 2 }));
  const tasks = await tasksWhere(cluster.api, serviceId, (ts) => ts.length === 2 && ts.every((t) => t.Status.State === 'running'));
  taskIds = tasks.sort((a, b) => a.Slot - b.Slot).map((t) => t.ID);
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

function cliLogs(url: string, path: string, query: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1.41${path}?${query}`, { headers: { Authorization: `Bearer ${cluster.api.apiKey}` }, signal });
}

/** One agent frame: `<taskId> <timestamp> <line>`. */
function frame(stream: 1 | 2, taskId: string, line: string, timestamp = '2026-11-25T12:17:36.034000000Z'): Uint8Array {
  return encodeLogFrame(stream, enc.encode(`${taskId} ${timestamp} ${line}`));
}

function agentPost(url: string, as: SimAgent, requestId: string, frames: Uint8Array[], done = false): Promise<Response> {
  return fetch(`${url}/agent/v1/logs/${requestId}${done ? '?done=1' : ''}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${as.credential}`, 'Content-Type': 'application/octet-stream' },
    body: Buffer.concat(frames),
  });
}

/** Long-polls this agent's assignments until they carry a log request it has not seen (bounded). */
async function nextLogRequest(
  as: SimAgent,
  index: number,
  url = cluster.cp.url,
  seen: string[] = [],
): Promise<{ request: LogRequest; index: number; waitedMs: number }> {
  const started = performance.now();
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/agent/v1/assignments?index=${index}&wait=5s`, { headers: { Authorization: `Bearer ${as.credential}` } });
    const body = (await res.json()) as AssignmentsResponse;
    const request = body.logRequests.find((r) => !seen.includes(r.id));
    if (request) return { request, index: body.index, waitedMs: performance.now() - started };
    index = body.index;
  }
  throw new Error('no log request reached the agent within 10 s');
}

async function currentIndex(as: SimAgent): Promise<number> {
  return (await as.assignments()).body.index;
}

const details = (taskId: string) =>
  `com.docker.swarm.node.id=${agent.nodeId},com.docker.swarm.service.id=${serviceId},com.docker.swarm.task.id=${taskId}`;

function frames(bytes: Uint8Array) {
  return decodeLogFrames(bytes).map((f) => ({ stream: f.stream, payload: dec.decode(f.payload) }));
}

/** Reads a streaming body until it holds `count` frames (bounded). */
async function readFrames(reader: ReadableStreamDefaultReader<Uint8Array>, count: number, have: Uint8Array[] = []) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = frames(Buffer.concat(have));
    if (got.length >= count) return got;
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${count} frames within 10 s`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended after ${got.length} of ${count} frames`);
    have.push(value);
  }
}

describe('docker service logs through the log relay', () => {
  it("wakes the node's long-poll at once and relays the agent's frames framed as dockerd's", async () => {
    const index = await currentIndex(agent);
    const started = performance.now();
    const response = cliLogs(cluster.cp.url, '/services/logger/logs', QUERY);
    const { request, waitedMs } = await nextLogRequest(agent, index);
    expect(waitedMs).toBeLessThan(1_500);
    expect(request).toEqual({ id: expect.any(String), taskIds: expect.any(Array), follow: false, tail: 'all', timestamps: false });
    expect([...request.taskIds].sort()).toEqual([...taskIds].sort());

    expect((await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[0]!, 'out 0\n'), frame(2, taskIds[0]!, 'err 0\n')])).status).toBe(204);
    expect((await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[1]!, 'out 0\n')], true)).status).toBe(204);

    const res = await response;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBeNull();
    expect(frames(new Uint8Array(await res.arrayBuffer()))).toEqual([
      { stream: 1, payload: `${details(taskIds[0]!)} out 0\n` },
      { stream: 2, payload: `${details(taskIds[0]!)} err 0\n` },
      { stream: 1, payload: `${details(taskIds[1]!)} out 0\n` },
    ]);
    // Ends as soon as the node said it was done, not on a timeout.
    expect(performance.now() - started).toBeLessThan(3_000);
    expect((await agent.assignments()).body.logRequests).toEqual([]);
  });

  it('puts the timestamp first with timestamps=1 and passes tail and since to the node', async () => {
    const index = await currentIndex(agent);
    const response = cliLogs(cluster.cp.url, '/services/logger/logs', 'details=1&stderr=1&stdout=1&tail=5&timestamps=1&since=1700000000.5');
    const { request } = await nextLogRequest(agent, index);
    expect(request).toMatchObject({ tail: 5, timestamps: true, since: 1700000000.5, follow: false });
    await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[0]!, 'hello\n', '2026-11-25T12:00:00.123456789Z')], true);
    const res = await response;
    expect(frames(new Uint8Array(await res.arrayBuffer()))).toEqual([{ stream: 1, payload: `2026-11-25T12:00:00.123456789Z ${details(taskIds[0]!)} hello\n` }]);
  });

  it('streams with follow until the client goes away, then the node is told to stop', async () => {
    const index = await currentIndex(agent);
    const abort = new AbortController();
    const res = await cliLogs(cluster.cp.url, '/services/logger/logs', `${QUERY}&follow=1`, abort.signal);
    const { request, index: requestIndex } = await nextLogRequest(agent, index);
    expect(request.follow).toBe(true);
    const reader = res.body!.getReader();
    const have: Uint8Array[] = [];

    await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[0]!, 'line 1\n')]);
    expect(await readFrames(reader, 1, have)).toEqual([{ stream: 1, payload: `${details(taskIds[0]!)} line 1\n` }]);
    await agentPost(cluster.cp.url, agent, request.id, [frame(2, taskIds[1]!, 'line 2\n')]);
    expect((await readFrames(reader, 2, have))[1]).toEqual({ stream: 2, payload: `${details(taskIds[1]!)} line 2\n` });

    // The client disconnects: the request closes with an index bump, so the long-poll returns at once.
    const closedAt = performance.now();
    const poll = fetch(`${cluster.cp.url}/agent/v1/assignments?index=${requestIndex}&wait=10s`, { headers: { Authorization: `Bearer ${agent.credential}` } });
    abort.abort();
    const after = (await (await poll).json()) as AssignmentsResponse;
    expect(performance.now() - closedAt).toBeLessThan(2_000);
    expect(after.logRequests).toEqual([]);
    expect(after.index).toBeGreaterThan(requestIndex);
    const late = await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[0]!, 'too late\n')]);
    expect(late.status).toBe(410);
    expect((await late.json()).message).toMatch(/closed: its client went away; stop sending/);
  });

  it('asks for tasks that start while following (a scale-up), with their whole log', async () => {
    const index = await currentIndex(agent);
    const abort = new AbortController();
    const res = await cliLogs(cluster.cp.url, '/services/logger/logs', 'details=1&stderr=1&stdout=1&tail=0&follow=1', abort.signal);
    const first = await nextLogRequest(agent, index);
    expect(first.request.tail).toBe(0);
    try {
      await cluster.api.scale('logger', 3);
      const tasks = await tasksWhere(cluster.api, serviceId, (ts) => ts.length === 3 && ts.every((t) => t.Status.State === 'running'));
      const added = tasks.find((t) => !taskIds.includes(t.ID))!.ID;
      const second = await nextLogRequest(agent, first.index, cluster.cp.url, [first.request.id]);
      expect(second.request).toMatchObject({ taskIds: [added], follow: true, tail: 'all' });
      await agentPost(cluster.cp.url, agent, second.request.id, [frame(1, added, 'new task\n')]);
      expect(await readFrames(res.body!.getReader(), 1)).toEqual([{ stream: 1, payload: `${details(added)} new task\n` }]);
    } finally {
      abort.abort();
      await cluster.api.scale('logger', 2);
      await tasksWhere(cluster.api, serviceId, (ts) => ts.length === 2);
    }
  });

  it('lets a node post only frames of its own tasks in its own requests', async () => {
    const other = await cluster.addAgent();
    const index = await currentIndex(agent);
    const response = cliLogs(cluster.cp.url, '/services/logger/logs', QUERY);
    const { request } = await nextLogRequest(agent, index);

    const foreign = await agentPost(cluster.cp.url, other, request.id, [frame(1, taskIds[0]!, 'forged\n')]);
    expect(foreign.status).toBe(404);
    const wrongTask = await agentPost(cluster.cp.url, agent, request.id, [frame(1, 'notatask', 'forged\n')]);
    expect(wrongTask.status).toBe(400);
    expect((await wrongTask.json()).message).toBe(`task notatask is not part of log request ${request.id}`);
    const malformed = await agentPost(cluster.cp.url, agent, request.id, [new Uint8Array([7, 1, 2])]);
    expect(malformed.status).toBe(400);
    const anonymous = await fetch(`${cluster.cp.url}/agent/v1/logs/${request.id}`, { method: 'POST', body: 'x' });
    expect(anonymous.status).toBe(401);

    await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[0]!, 'real\n')], true);
    expect(frames(new Uint8Array(await (await response).arrayBuffer()))).toEqual([{ stream: 1, payload: `${details(taskIds[0]!)} real\n` }]);
  });

  it('answers 404 for an unknown service, and serves one task with GET /tasks/{id}/logs', async () => {
    const missing = await cliLogs(cluster.cp.url, '/services/nosuch/logs', QUERY);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/json');
    expect(await missing.json()).toEqual({ message: 'service nosuch not found' });
    expect((await cliLogs(cluster.cp.url, '/tasks/nosuch/logs', QUERY)).status).toBe(404);

    const index = await currentIndex(agent);
    const response = cliLogs(cluster.cp.url, `/tasks/${taskIds[1]}/logs`, QUERY);
    const { request } = await nextLogRequest(agent, index);
    expect(request.taskIds).toEqual([taskIds[1]]);
    await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[1]!, 'just me\n')], true);
    expect(frames(new Uint8Array(await (await response).arrayBuffer()))).toEqual([{ stream: 1, payload: `${details(taskIds[1]!)} just me\n` }]);
  });

  it('relays between instances: the CLI on one control plane, the agent on another', async () => {
    let second: ControlPlaneProcess | undefined;
    try {
      second = await startControlPlane({ dataDir: cluster.cp.dataDir, env: { INSTANCE_ID: 'cp-second' } });
      const index = await currentIndex(agent);
      const abort = new AbortController();
      const res = await cliLogs(second.url, '/services/logger/logs', `${QUERY}&follow=1`, abort.signal);
      // The agent's long-poll is on the first instance: it learns of the request by the index poll.
      const { request, waitedMs } = await nextLogRequest(agent, index, cluster.cp.url);
      expect(waitedMs).toBeLessThan(2_000);
      const reader = res.body!.getReader();
      const sent = performance.now();
      await agentPost(cluster.cp.url, agent, request.id, [frame(1, taskIds[0]!, 'across\n')]);
      expect(await readFrames(reader, 1)).toEqual([{ stream: 1, payload: `${details(taskIds[0]!)} across\n` }]);
      expect(performance.now() - sent).toBeLessThan(2_000);
      abort.abort();
    } finally {
      await second?.stop();
    }
  });
});
