/**
 * The host's side of the overlay: forwarding, proxy ARP on the overlay bridges, a /32 route per
 * remote task through the tunnel, and the isolation rules in the agent's own chains. Everything
 * here is in the host's (the agent's) network namespace.
 */
import { writeFile } from 'node:fs/promises';
import type { MeshView } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';
import { mustRun, succeeds } from './command.ts';
import { FORWARD_CHAIN, INPUT_CHAIN, overlayBridgeName, VIP_CHAIN, VIP_POST_CHAIN } from './names.ts';
import { firewallRules, type NetworkVips, parseRoutes, routeChanges, virtualIpRules } from './plan.ts';

const sysctl = (path: string, value: string) => writeFile(`/proc/sys/net/ipv4/${path}`, value);

/**
 * A local container ARPs for a remote task's address (same subnet, so no gateway): with proxy ARP
 * the host answers for it, because its route to that address leaves by the tunnel, another link.
 */
export async function enableForwarding(view: MeshView): Promise<void> {
  await sysctl('ip_forward', '1');
  for (const n of view.networks) await sysctl(`conf/${overlayBridgeName(n.id)}/proxy_arp`, '1');
}

export async function syncRoutes(wireguardInterface: string, view: MeshView, vips: NetworkVips[], log: Logger): Promise<void> {
  const current = parseRoutes(await mustRun('ip', ['-4', 'route', 'show', 'dev', wireguardInterface]));
  const { add, remove } = routeChanges(current, view, vips);
  for (const dst of remove) await mustRun('ip', ['route', 'del', dst, 'dev', wireguardInterface]);
  for (const dst of add) await mustRun('ip', ['route', 'replace', dst, 'dev', wireguardInterface]);
  if (add.length || remove.length) log.debug('mesh: routes', { added: add, removed: remove });
}

/** Fills the chains in one commit, then makes sure FORWARD and INPUT jump to them first. */
export async function syncFirewall(wireguardInterface: string, view: MeshView, vips: NetworkVips[]): Promise<void> {
  await mustRun('iptables-restore', ['-w', '10', '--noflush'], firewallRules(view, wireguardInterface, vips));
  await jumpFirst('filter', [['FORWARD', FORWARD_CHAIN], ['INPUT', INPUT_CHAIN]]);
}

/** The virtual IPs' and egress nat chains, in one commit, jumped to first from PREROUTING and POSTROUTING. */
export async function syncVirtualIps(view: MeshView, vips: NetworkVips[], wireguardInterface: string): Promise<void> {
  await mustRun('iptables-restore', ['-w', '10', '--noflush'], virtualIpRules(view, vips, wireguardInterface));
  await jumpFirst('nat', [['PREROUTING', VIP_CHAIN], ['POSTROUTING', VIP_POST_CHAIN]]);
}

async function jumpFirst(table: string, jumps: Array<[builtin: string, chain: string]>): Promise<void> {
  for (const [builtin, chain] of jumps) {
    if (!(await succeeds('iptables', ['-w', '10', '-t', table, '-C', builtin, '-j', chain]))) await mustRun('iptables', ['-w', '10', '-t', table, '-I', builtin, '1', '-j', chain]);
  }
}
