import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { eventually } from '../harness/docker-cli.ts';
import { createTestApp, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';

/**
 * The notifier wakes only the long-polls a change concerns (DESIGN.md, core idea 4). A woken
 * long-poll that finds nothing of its own changed goes back to waiting without answering, so an
 * agent cannot tell a spurious wake-up from none: these tests count the waits each node's
 * long-poll begins (one more per wake-up) to see who was woken.
 */
async function joinNode(t: TestApp, hostname: string, addr: string) {
  const joined = await joinInProcess(t, { hostname, addr, wireguardPublicKey: randomBytes(32).toString('base64') });
  const node = {
    nodeId: joined.nodeId,
    index: 0,
    /** Starts a long-poll from the node's last index; `done` says whether it has answered. */
    poll() {
      const abort = new AbortController();
      const started = Date.now();
      const state = { done: false, ms: 0, body: undefined as any, abort };
      const promise = joined.agentRequest('GET', `/assignments?index=${node.index}&wait=20s`, undefined, { signal: abort.signal }).then(async (r) => {
        state.body = await r.json();
        state.ms = Date.now() - started;
        state.done = true;
        node.index = state.body.index;
        return state.body;
      });
      return Object.assign(state, { promise });
    },
    report: joined.report,
  };
  node.index = ((await node.poll().promise) as { index: number }).index;
  return node;
}

const pinnedTo = (hostname: string, extra: Record<string, unknown> = {}) => {
  const spec = serviceSpec(`on-${hostname}-${Math.random().toString(36).slice(2, 6)}`, 1, extra);
  spec.TaskTemplate.Placement = { Constraints: [`node.hostname==${hostname}`] } as never;
  return spec;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('targeted long-poll wake-ups', () => {
  let t: TestApp;
  let leader: LeaderLoop;
  let a: Awaited<ReturnType<typeof joinNode>>;
  let b: Awaited<ReturnType<typeof joinNode>>;
  let waits: ReturnType<typeof vi.spyOn>;
  /** How many waits a node's long-polls have begun so far. */
  const waitsOf = (nodeId: string) => waits.mock.calls.filter((call: unknown[]) => call[4] === nodeId).length;

  beforeAll(async () => {
    t = await createTestApp();
    leader = new LeaderLoop(t.deps);
    leader.start();
    await eventually(async () => leader.isLeader, 5000, 20);
    a = await joinNode(t, 'node-a', '10.1.0.1');
    b = await joinNode(t, 'node-b', '10.1.0.2');
    waits = vi.spyOn(t.deps.notifier, 'waitForChange');
  });
  afterAll(async () => {
    await leader.stop();
    t.close();
  });

  /** Both nodes long-polling from their current index, each waiting in the notifier. */
  async function bothWaiting() {
    const before = [waitsOf(a.nodeId), waitsOf(b.nodeId)];
    const polls = [a.poll(), b.poll()];
    await eventually(async () => waitsOf(a.nodeId) > before[0]! && waitsOf(b.nodeId) > before[1]!, 5000, 5);
    // Past a few polls of the index by the notifier (every 250 ms), which must wake no one either.
    await sleep(300);
    return polls;
  }

  it('answers each node once for a global service, with its task: a task not yet scheduled is no news', async () => {
    const [pollA, pollB] = await bothWaiting();
    const name = `everywhere-${Math.random().toString(36).slice(2, 6)}`;
    expect((await t.request('POST', '/services/create', serviceSpec(name, 1, { Mode: { Global: {} } }))).status).toBe(201);
    for (const poll of [pollA!, pollB!]) {
      const body = await poll.promise;
      // The create names each node in a pending task before the scheduler checked it fits; the
      // answer does not carry it until it is assigned, so that write must not answer the poll.
      expect(body.tasks.filter((task: { serviceName: string; state: string }) => task.serviceName === name).map((task: { state: string }) => task.state)).toEqual(['assigned']);
      expect(poll.ms).toBeLessThan(2000);
    }
  });

  it("wakes node A's long-poll for A's new task, and leaves B's waiting, not even woken", async () => {
    const [pollA, pollB] = await bothWaiting();
    const bWaits = waitsOf(b.nodeId);
    // Creating the service wakes no one (its task is on no node yet); the leader's placement wakes A.
    const pinned = pinnedTo('node-a');
    expect((await t.request('POST', '/services/create', pinned)).status).toBe(201);
    const body = await pollA!.promise;
    const mine = body.tasks.filter((task: { serviceName: string }) => task.serviceName === pinned.Name);
    expect(mine).toHaveLength(1);
    expect(pollA!.ms).toBeLessThan(2000);
    await sleep(600);
    expect(pollB!.done).toBe(false);
    expect(waitsOf(b.nodeId)).toBe(bWaits);

    // A's report that its task runs is news to no one: A sent it, and B has no part in it.
    const taskId = mine[0].taskId;
    const aWaits = waitsOf(a.nodeId);
    const pollA2 = a.poll();
    await eventually(async () => waitsOf(a.nodeId) > aWaits, 5000, 5);
    expect(await a.report(taskId, 'running')).toMatchObject({ ok: true });
    await sleep(600);
    expect(pollA2.done).toBe(false);
    expect(waitsOf(a.nodeId)).toBe(aWaits + 1);
    // Its report that the task ended wakes A (a task that is to stop leaves the answer, and the
    // agent then removes its container), and still not B.
    expect(await a.report(taskId, 'failed')).toMatchObject({ ok: true });
    const ended = (await pollA2.promise).tasks.find((task: { taskId: string }) => task.taskId === taskId);
    expect(ended?.state ?? 'gone').not.toBe('running');
    expect(pollA2.ms).toBeLessThan(2600);
    await sleep(400);
    expect(pollB!.done).toBe(false);
    expect(waitsOf(b.nodeId)).toBe(bWaits);
    pollB!.abort.abort();
    await pollB!.promise;
  });

  it("wakes every node's long-poll when a task of a service publishing ingress ports changes", async () => {
    const ports = { EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 18080, PublishMode: 'ingress' }] } };
    const spec = pinnedTo('node-a', ports);
    expect((await t.request('POST', '/services/create', spec)).status).toBe(201);
    // Wait until the leader has placed the task, and both nodes have seen it.
    const assigned = await eventually(async () => {
      const body = await a.poll().promise;
      return body.tasks.find((task: { state: string; serviceName: string }) => task.state === 'assigned' && task.serviceName === spec.Name);
    }, 5000, 20);
    await b.poll().promise;

    const [pollA, pollB] = await bothWaiting();
    expect(await a.report(assigned.taskId, 'running')).toMatchObject({ ok: true });
    const [bodyA, bodyB] = await Promise.all([pollA!.promise, pollB!.promise]);
    expect(pollA!.ms).toBeLessThan(2000);
    expect(pollB!.ms).toBeLessThan(2000);
    // B's answer changed too: A's running task is a routing-mesh backend on B, at its ingress address.
    const address = assigned.networks.find((n: { ingress?: boolean }) => n.ingress).address.split('/')[0];
    for (const body of [bodyA, bodyB]) {
      const mesh = body.ingress.find((i: { ports: Array<{ PublishedPort: number }> }) => i.ports[0]!.PublishedPort === 18080);
      expect(mesh.backends).toEqual([{ taskId: assigned.taskId, nodeId: a.nodeId, address }]);
    }
    // B reaches the task through A; A takes B's connections from B's mesh address.
    expect(bodyB.mesh.peers).toEqual([expect.objectContaining({ nodeId: a.nodeId, allowedIps: [`${address}/32`] })]);
    expect(bodyA.mesh.peers).toEqual([expect.objectContaining({ nodeId: b.nodeId, allowedIps: [bodyB.mesh.address] })]);
    expect(bodyA.mesh.address).not.toBe(bodyB.mesh.address);
  });
});

describe('a join', () => {
  let t: TestApp;
  let leader: LeaderLoop;
  beforeAll(async () => {
    t = await createTestApp();
    leader = new LeaderLoop(t.deps);
    leader.start();
    await eventually(async () => leader.isLeader, 5000, 20);
  });
  afterAll(async () => {
    await leader.stop();
    t.close();
  });

  it('wakes no other node\'s long-poll: a thousand joins must not make a million reads', async () => {
    const a = await joinNode(t, 'node-a', '10.1.0.1');
    const waits = vi.spyOn(t.deps.notifier, 'waitForChange');
    const pollA = a.poll();
    await eventually(async () => waits.mock.calls.length > 0, 5000, 5);
    await sleep(300);
    const before = waits.mock.calls.length;
    for (let i = 2; i < 6; i++) await joinInProcess(t, { hostname: `node-${i}`, addr: `10.1.0.${i}`, wireguardPublicKey: randomBytes(32).toString('base64') });
    // Past the leader's passes over the joins, which place nothing and address no one.
    await sleep(600);
    expect(pollA.done).toBe(false);
    expect(waits.mock.calls.filter((call: unknown[]) => call[4] === a.nodeId).length).toBe(before);
    pollA.abort.abort();
    await pollA.promise.catch(() => undefined);
  });
});
