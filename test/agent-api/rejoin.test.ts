import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/app.ts';

let keys = 0;
/** A host's own WireGuard public key: 32 bytes, base64. */
const hostKey = () => Buffer.alloc(32, ++keys).toString('base64');

describe('rejoin', () => {
  let t: TestApp;
  let token: string;
  const node = (wireguardPublicKey: string) => ({ hostname: 'host-a', nanoCpus: 1e9, memoryBytes: 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '10.0.0.1', wireguardPublicKey });
  const send = (key: string, body: Record<string, unknown>) =>
    Promise.resolve(t.app.request('http://cp.test/agent/v1/join', { method: 'POST', body: JSON.stringify({ token, node: node(key), ...body }) }));
  const join = async (key: string, body: Record<string, unknown>) => {
    const res = await send(key, body);
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
    const key = hostKey();
    const first = await join(key, {});
    const again = await join(key, { credential: first.credential });
    expect(again.nodeId).toBe(first.nodeId);
    expect((await poll(again.credential)).status).toBe(200);
    const old = await poll(first.credential);
    expect(old.status).toBe(401);
    expect((await old.json()).message).toContain('revoked');
  });

  it('never hands out a node because a join presents its public WireGuard key: another host with it is refused', async () => {
    const key = hostKey();
    const victim = await join(key, {});
    const intruder = await send(key, {}); // same host key, no credential
    expect(intruder.status).toBe(409);
    expect((await intruder.json()).message).toMatch(/^WireGuard public key is already node host-a's \([0-9a-z]{25}\); each host needs its own key pair$/);
    expect((await poll(victim.credential)).status).toBe(200);
  });

  it('an older, revoked credential cannot take the node over, even with a valid join token', async () => {
    const key = hostKey();
    const first = await join(key, {});
    const current = await join(key, { credential: first.credential });
    // The first credential was retired by the rejoin; presenting it again must not rejoin as the node.
    const takeover = await send(hostKey(), { credential: first.credential });
    expect(takeover.status).toBe(401);
    expect(await takeover.json()).toEqual({ message: expect.stringMatching(/^node credential revoked/), code: 'credential_revoked' });
    expect((await poll(current.credential)).status).toBe(200);
  });
});
