import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentInstanceUrls } from '../../control-plane/agent-api/instances.ts';
import { deregisterInstance, liveInstanceUrls, registerInstance } from '../../control-plane/orchestrator/instances.ts';
import { createTestApp, joinInProcess, type TestApp } from '../harness/app.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('control-plane instance list', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('gives agents the live instances with their assignments, the answering one included', async () => {
    await registerInstance(t.deps.database, 'cp-b', 'http://10.0.0.2:2399', 15_000);
    await registerInstance(t.deps.database, 'cp-c', 'https://cp-c.example:8443', 15_000);
    // The same URL twice (two instances behind one balancer) is one entry.
    await registerInstance(t.deps.database, 'cp-d', 'https://cp-c.example:8443', 15_000);
    const node = await joinInProcess(t, { hostname: 'follower' });
    const res = await node.agentRequest('GET', '/assignments?index=0');
    expect(res.status).toBe(200);
    expect((await res.json()).controlPlaneUrls).toEqual(['http://10.0.0.2:2399', 'https://cp-c.example:8443', 'http://127.0.0.1:2399']);
    await deregisterInstance(t.deps.database, 'cp-b');
    expect((await (await node.agentRequest('GET', '/assignments?index=0')).json()).controlPlaneUrls).not.toContain('http://10.0.0.2:2399');
  });

  it('drops an instance not seen for the TTL from the list, and its row with the next registration', async () => {
    await registerInstance(t.deps.database, 'cp-gone', 'http://10.0.0.9:2399', 300);
    expect(await liveInstanceUrls(t.deps.database.db, 300)).toContain('http://10.0.0.9:2399');
    await sleep(400);
    expect(await liveInstanceUrls(t.deps.database.db, 300)).not.toContain('http://10.0.0.9:2399');
    await registerInstance(t.deps.database, 'cp-alive', 'http://10.0.0.10:2399', 300);
    const rows = await t.deps.database.db.query.instances.findMany();
    expect(rows.map((r) => r.id)).not.toContain('cp-gone');
    expect(rows.map((r) => r.id)).toContain('cp-alive');
  });

  it('gives loopback URLs only to a local cluster', async () => {
    await registerInstance(t.deps.database, 'cp-loop', 'http://127.0.0.1:2400', 15_000);
    await registerInstance(t.deps.database, 'cp-lan', 'http://192.0.2.7:2399', 15_000);
    const remote = await agentInstanceUrls(t.deps.database.db, { ttlMs: 15_000, ownUrl: 'http://127.0.0.1:2399', clusterUrl: 'http://192.0.2.1:2399' });
    expect(remote).toContain('http://192.0.2.7:2399');
    expect(remote.filter((u) => u.includes('127.0.0.1'))).toEqual([]);
    const local = await agentInstanceUrls(t.deps.database.db, { ttlMs: 15_000, ownUrl: 'http://127.0.0.1:2399', clusterUrl: 'http://127.0.0.1:2399' });
    expect(local).toEqual(expect.arrayContaining(['http://127.0.0.1:2400', 'http://127.0.0.1:2399', 'http://192.0.2.7:2399']));
  });
});
