import { randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerNetworks, networkCreateOptions } from '../../agent/mesh/docker-networks.ts';
import type { OverlayNetwork } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';

const engine = new Dockerode({ socketPath: '/var/run/docker.sock' });
const warnings: string[] = [];
const log = { debug() {}, info() {}, warn: (msg: string) => warnings.push(msg), error() {} } as unknown as Logger;

/** An overlay network of a subnet no other test uses (10.251–254.x.0/24). */
function overlay(name: string): OverlayNetwork {
  const [a, b] = randomBytes(2);
  const prefix = `10.${251 + (a! % 4)}.${b}`;
  return { id: randomBytes(13).toString('hex').slice(0, 25), name, subnet: `${prefix}.0/24`, gateway: `${prefix}.1` };
}

const made: string[] = [];
afterAll(async () => {
  for (const id of made) await engine.getNetwork(id).remove().catch(() => undefined);
});

/**
 * A host that joins again with a new state directory is a new node, and the networks its former
 * node made on the engine are still there: the engine refuses a second network of their subnet
 * ("Pool overlaps"), so the new node could run no task on them. Its agent removes those, and
 * only those: ours by label, another node's, with no container attached.
 */
describe('networks a former node left on the engine', () => {
  it("removes a former node's network of the same subnet, and makes its own", async () => {
    const n = overlay('leftover');
    const old = await engine.createNetwork(networkCreateOptions(n, 'former-node'));
    made.push(old.id);
    const networks = new DockerNetworks(engine, 'new-node', log);
    expect(await networks.ensure(n)).toBe(true);
    const ours = await networks.ours();
    made.push(ours.get(n.id)!);
    expect(ours.get(n.id)).toBeDefined();
    expect(ours.get(n.id)).not.toBe(old.id);
    await expect(engine.getNetwork(old.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(warnings).toContain('mesh: removed a network another node left on this engine');
  });

  it("removes a former swarm's network of the same subnet under another ID", async () => {
    const n = overlay('former-swarm');
    const old = await engine.createNetwork(networkCreateOptions({ ...overlay('x'), subnet: n.subnet, gateway: n.gateway }, 'former-node'));
    made.push(old.id);
    const networks = new DockerNetworks(engine, 'new-node', log);
    expect(await networks.ensure(n)).toBe(true);
    made.push((await networks.ours()).get(n.id)!);
    await expect(engine.getNetwork(old.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("leaves a network that is not ours alone, and says the subnet is taken", async () => {
    const n = overlay('taken');
    const foreign = await engine.createNetwork({ Name: `not-ours-${n.id.slice(0, 8)}`, IPAM: { Config: [{ Subnet: n.subnet }] } });
    made.push(foreign.id);
    await expect(new DockerNetworks(engine, 'new-node', log).ensure(n)).rejects.toThrow(/overlaps/i);
    expect((await engine.getNetwork(foreign.id).inspect()).Id).toBe(foreign.id);
  });
});
