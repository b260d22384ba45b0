import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLogFrames, encodeLogFrame } from '../../protocol/log-frames.ts';
import { logChunks, logRequests } from '../../control-plane/db/schema/index.ts';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { SimAgent, nodeInfo } from '../harness/sim-agent.ts';
import { SwarmClient, serviceSpec } from '../harness/swarm-client.ts';
import { eventually } from '../harness/docker-cli.ts';

/**
 * The relay's clocks, in-process so they can be shortened: a node that never answers, and
 * requests whose serving instance vanished.
 */
let t: TestApp;
let server: ReturnType<typeof serve>;
let leader: LeaderLoop;
let url: string;
let api: SwarmClient;
let agent: SimAgent;
let serviceId: string;
let taskId: string;

beforeAll(async () => {
  t = await createTestApp();
  server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  leader = new LeaderLoop(t.deps);
  leader.start();
  api = new SwarmClient(url, t.apiKey);
  agent = await SimAgent.start(url, await api.workerToken(), nodeInfo({ hostname: 'quiet-node' }));
  serviceId = await api.createService(serviceSpec('quiet', { replicas: 1 }));
  const [task] = await eventually(async () => {
    const live = await api.liveTasks(serviceId);
    return live.length === 1 && live[0].Status.State === 'running' ? live : undefined;
  }, 15_000);
  taskId = task.ID;
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await leader?.stop();
  server?.close();
  t?.close();
});

const cliLogs = (query = 'details=1&stderr=1&stdout=1&tail=all') =>
  fetch(`${url}/v1.41/services/quiet/logs?${query}`, { headers: { Authorization: `Bearer ${t.apiKey}` } });

describe('log relay timeouts', () => {
  it('ends a stream without follow when a node sends nothing, saying whose logs are missing', async () => {
    Object.assign(t.config.logRelay, { idleTimeoutMs: 1_500, pollMs: 50 });
    const started = performance.now();
    const res = await cliLogs();
    const frames = decodeLogFrames(new Uint8Array(await res.arrayBuffer()));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(4_000);
    expect(frames.map((f) => [f.stream, new TextDecoder().decode(f.payload)])).toEqual([
      [
        2,
        `com.docker.swarm.node.id=${agent.nodeId},com.docker.swarm.service.id=${serviceId},com.docker.swarm.task.id=${taskId} ` +
          'swarmlet: node quiet-node sent no logs within 2 s; they are missing here (is its swarm-agent running?)\n',
      ],
    ]);
    // The request is closed, so the node stops being asked.
    expect((await agent.assignments()).body.logRequests).toEqual([]);
  });

  it('drops expired requests and their chunks: the node no longer sees them, posts get 410, the next request cleans up', async () => {
    const db = t.deps.database.db;
    const now = Date.now();
    // As left behind by an instance that died while serving a client.
    await t.deps.database.write(async (tx) => {
      await tx.insert(logRequests).values({
        id: 'orphanrequest000000000000',
        clusterId: t.clusterId,
        nodeId: agent.nodeId,
        serviceId,
        taskIds: [taskId],
        follow: true,
        tail: null,
        timestamps: false,
        since: null,
        createdIndex: 1,
        expiresAt: now - 1,
        createdAt: now - 100_000,
      });
      await tx.insert(logChunks).values({ requestId: 'orphanrequest000000000000', data: encodeLogFrame(1, new TextEncoder().encode(`${taskId} ts x\n`)), expiresAt: now + 60_000 });
      await tx.insert(logChunks).values({ requestId: 'someoneelses', data: new Uint8Array(8), expiresAt: now - 1 });
    });
    expect((await agent.assignments()).body.logRequests).toEqual([]);
    const post = await fetch(`${url}/agent/v1/logs/orphanrequest000000000000`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${agent.credential}` },
      body: new Uint8Array(0),
    });
    expect(post.status).toBe(410);

    Object.assign(t.config.logRelay, { idleTimeoutMs: 200, pollMs: 50 });
    await (await cliLogs()).arrayBuffer();
    // Left: the closed requests of the two timed-out streams, kept a short while; the orphan is gone.
    const left = await db.select().from(logRequests);
    expect(left.map((r) => r.id)).not.toContain('orphanrequest000000000000');
    expect(left).toHaveLength(2);
    expect(left.every((r) => r.closedAt !== null && r.closedIndex !== null)).toBe(true);
    expect(await db.select({ id: logChunks.requestId }).from(logChunks)).toEqual([]);
  });
});
