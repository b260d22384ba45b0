import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster } from '../../control-plane/swarm/clusters.ts';
import { createTestApp, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';
import { expectAgentError, expectDockerError, expectRefusedWithoutChange, json } from '../docker-api/helpers.ts';

/** Another tenant's swarm on the same control plane, and a request with its key. */
async function otherTenant(t: TestApp) {
  const { apiKey } = await createCluster(t.deps.database, { tenant: 'other', name: 'other', initialize: true, now: Date.now(), keyRing: t.deps.keyRing });
  return (path: string) => Promise.resolve(t.app.request(`http://cp.test${path}`, { headers: { Authorization: `Bearer ${apiKey}` } }));
}

function retryAfter(res: Response): number {
  return Number(res.headers.get('retry-after'));
}

describe('Docker API rate per tenant', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { API_REQUESTS_PER_SEC: '1', API_BURST: '5' } });
  });
  afterAll(() => t?.close());

  it('answers 429 with Retry-After past the burst, and another tenant is not slowed by it', async () => {
    const other = await otherTenant(t);
    // At once, so that the slow machine's pace does not refill the bucket meanwhile.
    const answers = await Promise.all(Array.from({ length: 20 }, () => t.app.request('http://cp.test/v1.41/services', { headers: { Authorization: `Bearer ${t.apiKey}` } })));
    const ok = answers.filter((r) => r.status === 200).length;
    const refused = answers.find((r) => r.status === 429);
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(7);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(20 - ok);
    expect(retryAfter(refused!)).toBeGreaterThanOrEqual(1);
    await expectDockerError(refused!, 429, /too many requests: this swarm may send 1 requests a second \(bursts of 5\)/);
    expect((await other('/v1.41/services')).status).toBe(200);
  });
});

describe('agent API limits per node credential', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { NODE_REQUESTS_PER_SEC: '1', NODE_BURST: '10', LONG_POLLS_PER_NODE: '2' } });
  });
  afterAll(() => t?.close());

  it('ends the oldest waiting long-poll when a third comes (its client is likely gone), and refuses requests past the rate', async () => {
    const node = await joinInProcess(t, { hostname: 'poller' });
    const first = await json(await node.agentRequest('GET', '/assignments?index=0'));
    const started = Date.now();
    const answered: number[] = [];
    const waiting = [1, 2].map((i) => node.agentRequest('GET', `/assignments?index=${first.index}&wait=2s`).then((r) => (answered.push(i), r)));
    await new Promise((r) => setTimeout(r, 100));
    const third = node.agentRequest('GET', `/assignments?index=${first.index}&wait=2s`).then((r) => (answered.push(3), r));
    // The oldest answers at once, unchanged; the other two wait their whole time.
    const oldest = await waiting[0]!;
    expect(oldest.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect((await json(oldest)).index).toBe(first.index);
    for (const res of [await waiting[1]!, await third]) expect(res.status).toBe(200);
    expect(answered).toEqual([1, 2, 3]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    // Past the burst (of which some is spent, some refilled while the polls waited), the rate refuses.
    const answers = await Promise.all(Array.from({ length: 20 }, () => node.agentRequest('GET', '/assignments?index=0')));
    expect(answers.filter((r) => r.status === 200).length).toBeLessThanOrEqual(10);
    expect(answers.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(10);
    await expectAgentError(await node.agentRequest('GET', '/assignments?index=0'), 429, /a node may send 1 requests a second/);
  });
});

describe('joins per join token', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { JOINS_PER_SEC_PER_TOKEN: '1', JOIN_BURST_PER_TOKEN: '3' } });
  });
  afterAll(() => t?.close());

  const join = (token: string, i: number) =>
    Promise.resolve(
      t.app.request('http://cp.test/agent/v1/join', {
        method: 'POST',
        body: JSON.stringify({ token, node: { hostname: `joiner-${i}`, nanoCpus: 2e9, memoryBytes: 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: `10.1.0.${i}` } }),
      }),
    );
  const nodeCount = async () => Number((await t.deps.database.client.execute('select count(*) as n from nodes')).rows[0]!.n);

  it('refuses joins with one token past its burst with 429 and adds no node; another token still joins', async () => {
    const { JoinTokens } = await json(await t.request('GET', '/swarm'));
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => join(JoinTokens.Worker, i)));
    const joined = answers.filter((r) => r.status === 200).length;
    // The burst of 3, and at most one more refilled on a slow machine.
    expect(joined).toBeGreaterThanOrEqual(3);
    expect(joined).toBeLessThanOrEqual(4);
    expect(await nodeCount()).toBe(joined);
    const refused = answers.find((r) => r.status === 429)!;
    expect(retryAfter(refused)).toBeGreaterThanOrEqual(1);
    await expectAgentError(refused, 429, /too many joins: one join token may join 1 nodes a second \(bursts of 3\)/);
    // The limit is the token's: the manager token has its own.
    expect((await join(JoinTokens.Manager, 7)).status).toBe(200);
    expect(await nodeCount()).toBe(joined + 1);
  });
});

describe('stored counts per cluster', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { LIVE_JOIN_TOKENS_PER_CLUSTER: '4', SERVICES_PER_CLUSTER: '2' } });
  });
  afterAll(() => t?.close());

  it('refuses a live join token past the limit with 429 until one is revoked', async () => {
    // The swarm's worker and manager tokens are live ones too.
    const made: string[] = [];
    for (let i = 0; i < 2; i++) made.push((await json(await t.request('POST', '/swarmlet/v1/join-tokens', { ttlSeconds: 31_536_000 }), 201)).id);
    const before = (await t.deps.database.client.execute('select count(*) as n from join_tokens')).rows[0]!.n;
    const refused = await t.request('POST', '/swarmlet/v1/join-tokens', { ttlSeconds: 31_536_000 });
    expect(retryAfter(refused)).toBeGreaterThanOrEqual(3500);
    await expectDockerError(refused, 429, /too many live join tokens: this swarm has 4 \(at most 4\); revoke unused ones/);
    expect((await t.deps.database.client.execute('select count(*) as n from join_tokens')).rows[0]!.n).toBe(before);
    expect((await t.request('DELETE', `/swarmlet/v1/join-tokens/${made[0]}`)).status).toBeLessThan(300);
    expect((await t.request('POST', '/swarmlet/v1/join-tokens', { ttlSeconds: 60 })).status).toBe(201);
  });

  it('refuses a service past the limit with 400 and changes nothing', async () => {
    for (const name of ['a', 'b']) expect((await t.request('POST', '/v1.41/services/create', serviceSpec(name))).status).toBe(201);
    await expectRefusedWithoutChange(t, () => t.request('POST', '/v1.41/services/create', serviceSpec('c')), 400, /too many services: this swarm has 2 \(at most 2\)/);
  });
});
