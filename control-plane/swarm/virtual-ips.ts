/**
 * A service's virtual IPs (`Endpoint.VirtualIPs`): one address per network it is on, ingress
 * among them when it publishes a port, given when the service is written and kept across updates
 * for the networks it stays on. In `dnsrr` mode it has none: its name answers its tasks' addresses.
 */
import { eq } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { networks, type VirtualIp } from '../db/schema/index.ts';
import { conflict } from '../errors.ts';
import { addressesInUse, takeAddress } from './address-space.ts';
import type { PortConfig, ServiceSpec } from './service-spec.ts';

export async function allocateVirtualIps(db: Reader, clusterId: string, spec: ServiceSpec, ports: PortConfig[], previous: VirtualIp[]): Promise<VirtualIp[]> {
  if (spec.EndpointSpec?.Mode === 'dnsrr') return [];
  const wanted = (spec.TaskTemplate.Networks ?? []).map((n) => n.Target).filter((t): t is string => !!t);
  const nets = await db.select().from(networks).where(eq(networks.clusterId, clusterId));
  const ingress = nets.find((n) => n.ingress);
  if (ingress && ports.some((p) => p.PublishMode === 'ingress')) wanted.unshift(ingress.id);
  const kept = new Map(previous.map((v) => [v.NetworkID, v]));
  const missing = wanted.filter((id) => !kept.has(id));
  const used = missing.length ? await addressesInUse(db, clusterId, nets.filter((n) => missing.includes(n.id))) : new Map<string, Set<number>>();
  return wanted.map((id) => {
    const held = kept.get(id);
    if (held) return held;
    const network = nets.find((n) => n.id === id)!;
    const Addr = takeAddress(network, used.get(id)!);
    if (!Addr) throw conflict(`no free address left in network ${network.name} (${network.subnet}) for the service's virtual IP`);
    return { NetworkID: id, Addr };
  });
}
