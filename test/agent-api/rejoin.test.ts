import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/app.ts';

const WG_KEY = Buffer.alloc(32, 7).toString('base64');

describe('rejoin', () => {
  let t: TestApp;
  let token: string;
  const node = { hostname: 'host-a', nanoCpus: 1e9, memoryBytes: 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '10.0.0.1', wireguardPublicKey: WG_KEY };
  const join = async (body: Record<string, unknown>) => {
    const res = await t.app.request('http://cp.test/agent/v1/join', { method: 'POST', body: JSON.stringify({ token, node, ...body }) });
    expect(res.status).toBe(200);
    return res.json() as Promise<{ nodeId: string; credential: string }>;
  };
  const poll = (credential: string) => t.app.request('http://cp.test/agent/v1/assignments', { headers: { Authorization: `Bearer ${credential}` } });

  beforeAll(async () => {
    t = await createTestApp();
    token = (await (await t.request('GET', '/swarm')).json()).JoinTokens.Worker;
  });
  afterAll(() => t.close());

  it('keeps the node for a rejoin that proves itself, and retires the credential it replaced', async () => {
    const first = await join({});
    const again = await join({ credential: first.credential });
    expect(again.nodeId).toBe(first.nodeId);
    expect((await poll(again.credential)).status).toBe(200);
    const old = await poll(first.credential);
    expect(old.status).toBe(401);
    expect((await old.json()).message).toContain('revoked');
  });

  it('never hands out a node because a join presents its public WireGuard key', async () => {
    const victim = await join({});
    const intruder = await join({}); // same host key, no credential
    expect(intruder.nodeId).not.toBe(victim.nodeId);
    expect((await poll(victim.credential)).status).toBe(200);
  });
});
