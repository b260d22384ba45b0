import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinInProcess, type TestApp } from '../harness/app.ts';

/**
 * Any request is a node's heartbeat, so swarm-agent long-polls for at most half a period, and most
 * of an idle node's polls end with nothing new. Asked with `brief=1`, such a poll is answered with
 * its index and timing only (AssignmentsUnchanged); asked without, in full as before, so an older
 * agent is never handed an answer without its tasks.
 */
describe('brief long-poll answers', () => {
  let t: TestApp;
  let node: Awaited<ReturnType<typeof joinInProcess>>;
  let index: number;

  beforeAll(async () => {
    t = await createTestApp();
    node = await joinInProcess(t, { hostname: 'brief' });
    index = (await (await node.agentRequest('GET', '/assignments?index=0')).json()).index;
  });
  afterAll(() => t?.close());

  const poll = async (query: string) => {
    const res = await node.agentRequest('GET', `/assignments?${query}`);
    expect(res.status).toBe(200);
    return res.json();
  };

  it('answers a poll that asked briefly and timed out with nothing new: its index, period and instances only', async () => {
    const answer = await poll(`index=${index}&wait=200ms&brief=1`);
    expect(answer).toEqual({ index, nodeId: node.nodeId, unchanged: true, heartbeatPeriodMs: expect.any(Number), controlPlaneUrls: expect.any(Array) });
    expect(answer.controlPlaneUrls.length).toBeGreaterThan(0);
  });

  it('answers in full a poll that did not ask briefly, and any poll from 0', async () => {
    for (const query of [`index=${index}&wait=200ms`, 'index=0&brief=1']) {
      const answer = await poll(query);
      expect(answer.unchanged).toBeUndefined();
      expect(answer).toMatchObject({ index, nodeId: node.nodeId, tasks: [], names: [], ingress: [] });
    }
  });
});

describe('a brief answer is never stale', () => {
  it('a poll that times out looks again: a change it was not woken for is answered in full', async () => {
    const t = await createTestApp();
    try {
      const node = await joinInProcess(t, { hostname: 'missed' });
      const index = (await (await node.agentRequest('GET', '/assignments?index=0')).json()).index;
      const poll = node.agentRequest('GET', `/assignments?index=${index}&wait=1s&brief=1`);
      await new Promise((r) => setTimeout(r, 300));
      // A change to the node that wakes no one: its row stamped past the cluster's index, which
      // does not move (as a wake-up the notifier took for another node's would be missed).
      const changed = index + 1000;
      await t.deps.database.client.execute({ sql: 'UPDATE nodes SET version = ? WHERE id = ?', args: [changed, node.nodeId] });
      const started = Date.now();
      const answer = await (await poll).json();
      expect(Date.now() - started).toBeGreaterThan(500); // it waited out its second
      expect(answer.unchanged).toBeUndefined();
      expect(answer.index).toBe(changed);
    } finally {
      t.close();
    }
  });
});
