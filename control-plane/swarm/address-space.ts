/**
 * Who holds which address of the cluster's overlay networks: tasks (from assignment until they
 * end), nodes (their mesh address on ingress) and services (their virtual IPs). Every allocation
 * asks here, so no address is ever given twice.
 */
import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { HOLDING_STATES, type NetworkRow, nodes, services, tasks } from '../db/schema/index.ts';
import { formatAddress, parseSubnet } from './subnets.ts';

/** The address of a CIDR (`10.0.1.5/24` → `10.0.1.5`). */
export const addressOf = (cidr: string) => cidr.split('/')[0]!;

export const ipOf = (address: string) => addressOf(address).split('.').reduce((n, o) => n * 256 + Number(o), 0);

/** Addresses held now, per network: the network and gateway addresses are never anyone's. */
export async function addressesInUse(db: Reader, clusterId: string, nets: NetworkRow[]): Promise<Map<string, Set<number>>> {
  const used = new Map(nets.map((n) => [n.id, new Set([parseSubnet(n.subnet).base, ipOf(n.gateway)])]));
  const [taskRows, serviceRows] = await Promise.all([
    db
      .select({ networks: tasks.networks })
      .from(tasks)
      .where(and(eq(tasks.clusterId, clusterId), isNotNull(tasks.networks), inArray(tasks.state, [...HOLDING_STATES]))),
    db.select({ virtualIps: services.virtualIps }).from(services).where(eq(services.clusterId, clusterId)),
  ]);
  for (const row of taskRows) for (const a of row.networks ?? []) used.get(a.networkId)?.add(ipOf(a.address));
  for (const row of serviceRows) for (const v of row.virtualIps) used.get(v.NetworkID)?.add(ipOf(v.Addr));
  const ingress = nets.find((n) => n.ingress);
  if (ingress) {
    const addressed = await db
      .select({ meshAddress: nodes.meshAddress })
      .from(nodes)
      .where(and(eq(nodes.clusterId, clusterId), isNotNull(nodes.meshAddress)));
    for (const n of addressed) used.get(ingress.id)!.add(ipOf(n.meshAddress!));
  }
  return used;
}

/** The lowest free address of the network (CIDR), now taken; undefined when the network is full. */
export function takeAddress(network: NetworkRow, taken: Set<number>): string | undefined {
  const subnet = parseSubnet(network.subnet);
  const last = subnet.base + 2 ** (32 - subnet.prefix) - 2; // before the broadcast address
  let addr = subnet.base + 1;
  while (addr <= last && taken.has(addr)) addr++;
  if (addr > last) return undefined;
  taken.add(addr);
  return `${formatAddress(addr)}/${subnet.prefix}`;
}
