import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { eventually } from '../harness/docker-cli.ts';
import { createTestApp, type InProcessNode, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';
import { json } from '../docker-api/helpers.ts';

/** A WireGuard public key's shape: 32 bytes, base64. */
const wgKey = () => randomBytes(32).toString('base64');

/**
 * What each node is told of the overlay mesh in its assignments: its tasks' addresses, its
 * networks, and as peers the nodes with tasks on those networks, with those tasks' addresses.
 */
describe('the mesh in the assignments', () => {
  let t: TestApp;
  let leader: LeaderLoop;
  const nodes: Record<string, InProcessNode & { key: string; addr: string }> = {};
  beforeAll(async () => {
    t = await createTestApp();
    leader = new LeaderLoop(t.deps);
    leader.start();
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      const key = wgKey();
      const addr = `198.18.0.${i + 10}`;
      nodes[name] = { ...(await joinInProcess(t, { hostname: `mesh-${name}`, addr, wireguardPublicKey: key })), key, addr };
    }
    const overlay = (name: string) => ({ Name: name, Driver: 'overlay' });
    await json(await t.request('POST', '/v1.41/networks/create', overlay('front')), 201);
    await json(await t.request('POST', '/v1.41/networks/create', overlay('back')), 201);
  });
  afterAll(async () => {
    await leader.stop();
    t.close();
  });

  const pinned = (name: string, host: string, network: string, aliases: string[] = []) =>
    serviceSpec(name, 1, { TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, Placement: { Constraints: [`node.hostname==${host}`] }, Networks: [{ Target: network, Aliases: aliases }] } });
  const assignments = async (n: string) => json(await nodes[n]!.agentRequest('GET', '/assignments?index=0'));

  it('gives each node its tasks\' addresses, its networks, and only the peers that share them', async () => {
    await json(await t.request('POST', '/v1.41/services/create', pinned('fa', 'mesh-a', 'front', ['api'])), 201);
    await json(await t.request('POST', '/v1.41/services/create', pinned('fb', 'mesh-b', 'front')), 201);
    await json(await t.request('POST', '/v1.41/services/create', pinned('bc', 'mesh-c', 'back')), 201);
    const a = await eventually(async () => {
      const body = await assignments('a');
      return body.mesh.peers.length === 1 ? body : undefined;
    }, 10_000);
    const b = await assignments('b');
    const front = await json(await t.request('GET', '/v1.41/networks/front'));
    expect(a.tasks[0].networks).toEqual([{ networkId: front.Id, address: expect.stringMatching(/^10\.0\.1\.\d+\/24$/), aliases: ['api'] }]);
    expect(a.mesh).toEqual({
      listenPort: 51820,
      networks: [{ id: front.Id, name: 'front', subnet: '10.0.1.0/24', gateway: '10.0.1.1' }],
      peers: [{ nodeId: nodes.b!.nodeId, publicKey: nodes.b!.key, endpoint: `${nodes.b!.addr}:51820`, allowedIps: [b.tasks[0].networks[0].address.replace(/\/24$/, '/32')] }],
    });
    // C is on another network only: no one's peer on front, and it sees no one.
    const c = await assignments('c');
    expect(c.mesh.peers).toEqual([]);
    expect(c.mesh.networks.map((n: any) => n.name)).toEqual(['back']);
  });

  it('a task that ends frees its address: its node leaves the others\' peers, and their index rises', async () => {
    const before = await assignments('a');
    const b = await assignments('b');
    expect((await nodes.b!.report(b.tasks[0].taskId, 'failed')).ok).toBe(true);
    const after = await json(await nodes.a!.agentRequest('GET', `/assignments?index=${before.index}&wait=5s`));
    expect(after.index).toBeGreaterThan(before.index);
    // Until its replacement (after the 5 s restart delay) gets an address, B is no peer of A's;
    // then it is again, with the replacement's address.
    expect((await assignments('a')).mesh.peers).toEqual([]);
    const again = await eventually(async () => (await assignments('a')).mesh.peers[0], 15_000);
    expect(again.nodeId).toBe(nodes.b!.nodeId);
    const replacement = (await assignments('b')).tasks.find((x: any) => x.taskId !== b.tasks[0].taskId && x.desiredState === 'running');
    expect(again.allowedIps).toEqual([replacement.networks[0].address.replace(/\/24$/, '/32')]);
  });
});
