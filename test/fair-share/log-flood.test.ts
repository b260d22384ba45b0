import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logRequests } from '../../control-plane/db/schema/index.ts';
import { dropExpiredRows } from '../../control-plane/orchestrator/housekeeping.ts';
import { encodeLogFrame } from '../../protocol/log-frames.ts';
import { createTestApp, joinInProcess, type InProcessNode, type TestApp } from '../harness/app.ts';
import { expectAgentError } from '../docker-api/helpers.ts';

const MIB = 1024 * 1024;
const BATCH = 256 * 1024;

/** The database on disk: the file and its WAL. */
function databaseBytes(t: TestApp): number {
  const file = join(t.dir, 'control-plane.db');
  const size = (path: string) => {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  };
  return size(file) + size(`${file}-wal`);
}

/** A node with a log request of its own (as `docker service logs -f` makes one), ready to post. */
async function nodeWithLogRequest(t: TestApp) {
  const node = await joinInProcess(t, { hostname: `logger-${Math.random().toString(36).slice(2, 8)}` });
  const id = `req-${node.nodeId}`;
  const now = Date.now();
  await t.deps.database.db.insert(logRequests).values({
    id,
    clusterId: t.clusterId,
    nodeId: node.nodeId,
    serviceId: 'svc',
    taskIds: ['task-1'],
    follow: true,
    timestamps: false,
    createdIndex: 1,
    expiresAt: now + 90_000,
    createdAt: now,
  });
  // One frame the size of an agent's largest batch.
  const line = 'x'.repeat(BATCH - 64);
  const batch = encodeLogFrame(1, new TextEncoder().encode(`task-1 2026-11-25T12:17:36.034000000Z ${line}`));
  return { node, post: (body: Uint8Array = batch) => post(node, id, body) };
}

function post(node: InProcessNode, requestId: string, body: Uint8Array): Promise<Response> {
  return node.agentRequest('POST', `/logs/${requestId}`, undefined, { body: body as Uint8Array<ArrayBuffer>, headers: { Authorization: `Bearer ${node.credential}` } });
}

describe('log bytes stored per cluster', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_STORED_BYTES_PER_CLUSTER: String(4 * MIB), LOG_BYTES_PER_SEC_PER_NODE: '0', NODE_REQUESTS_PER_SEC: '0' } });
  });
  afterAll(() => t?.close());

  it('cuts a 148 MB flood with 429 at the bound, the file stays near it, and housekeeping gives the space back', async () => {
    const { post } = await nodeWithLogRequest(t);
    const baseline = databaseBytes(t);
    const started = performance.now();
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let sent = 0; sent < 148 * 1000 * 1000; sent += BATCH) {
      const res = await post();
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
      else await res.arrayBuffer();
    }
    const floodMs = performance.now() - started;
    const accepted = statuses.filter((s) => s === 204).length;
    const grown = databaseBytes(t) - baseline;
    console.log(`log flood: ${statuses.length} batches of 256 KiB in ${Math.round(floodMs)} ms, ${accepted} stored, ${statuses.length - accepted} refused; database grew ${(grown / MIB).toFixed(1)} MiB`);
    expect(accepted).toBe(Math.floor((4 * MIB) / BATCH));
    expect(statuses.filter((s) => s === 429)).toHaveLength(statuses.length - accepted);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectAgentError(refused!, 429, /too many log bytes stored: this swarm's readers have \d+ bytes waiting \(at most 4194304\)/);
    // The 4 MiB of chunks, and a WAL that never exceeds about as much (against 148 MB before).
    expect(grown).toBeLessThan(10 * MIB);

    // The chunks expire unread; housekeeping drops them and the file shrinks back.
    await t.deps.database.write((tx) => dropExpiredRows(tx, t.clusterId, Date.now() + 3600_000, t.config));
    await t.deps.database.client.execute('PRAGMA wal_checkpoint(TRUNCATE)');
    const after = databaseBytes(t) - baseline;
    console.log(`after housekeeping: ${(after / MIB).toFixed(2)} MiB above the start`);
    expect(after).toBeLessThan(MIB);
  }, 120_000);
});

describe('log bytes per second per node', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { LOG_BYTES_PER_SEC_PER_NODE: String(MIB), LOG_BURST_BYTES_PER_NODE: String(2 * MIB), LOG_CHUNK_MAX_BYTES: String(512 * 1024), NODE_REQUESTS_PER_SEC: '0' },
    });
  });
  afterAll(() => t?.close());

  it('refuses a batch above the largest with 413, and bytes past the rate with 429', async () => {
    const { post } = await nodeWithLogRequest(t);
    const big = encodeLogFrame(1, new TextEncoder().encode(`task-1 2026-11-25T12:17:36.034000000Z ${'y'.repeat(600 * 1024)}`));
    await expectAgentError(await post(big), 413, /log batch of \d+ bytes is too large: send at most 524288 bytes per batch/);
    const answers = await Promise.all(Array.from({ length: 16 }, () => post()));
    const accepted = answers.filter((r) => r.status === 204).length;
    // The 2 MiB burst is 8 batches; the machine's pace may refill one or two more.
    expect(accepted).toBeGreaterThanOrEqual(8);
    expect(accepted).toBeLessThanOrEqual(10);
    const refused = answers.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectAgentError(refused, 429, /too many log bytes: a node may send 1048576 bytes a second/);
  });
});
