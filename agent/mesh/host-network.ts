/**
 * The host's side of the overlay: forwarding, proxy ARP on the overlay bridges, a /32 route per
 * remote task through the tunnel, and the isolation rules in the agent's own chains. Everything
 * here is in the host's (the agent's) network namespace.
 */
import { writeFile } from 'node:fs/promises';
import type { MeshView } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';
import { mustRun, succeeds } from './command.ts';
import { FORWARD_CHAIN, INPUT_CHAIN, overlayBridgeName } from './names.ts';
import { firewallRules, parseRoutes, routeChanges } from './plan.ts';

const sysctl = (path: string, value: string) => writeFile(`/proc/sys/net/ipv4/${path}`, value);

/**
 * A local container ARPs for a remote task's address (same subnet, so no gateway): with proxy ARP
 * the host answers for it, because its route to that address leaves by the tunnel, another link.
 */
export async function enableForwarding(view: MeshView): Promise<void> {
  await sysctl('ip_forward', '1');
  for (const n of view.networks) await sysctl(`conf/${overlayBridgeName(n.id)}/proxy_arp`, '1');
}

export async function syncRoutes(wireguardInterface: string, view: MeshView, log: Logger): Promise<void> {
  const current = parseRoutes(await mustRun('ip', ['-4', 'route', 'show', 'dev', wireguardInterface]));
  const { add, remove } = routeChanges(current, view);
  for (const dst of remove) await mustRun('ip', ['route', 'del', dst, 'dev', wireguardInterface]);
  for (const dst of add) await mustRun('ip', ['route', 'replace', dst, 'dev', wireguardInterface]);
  if (add.length || remove.length) log.debug('mesh: routes', { added: add, removed: remove });
}

/** Fills the chains in one commit, then makes sure FORWARD and INPUT jump to them first. */
export async function syncFirewall(wireguardInterface: string, view: MeshView): Promise<void> {
  await mustRun('iptables-restore', ['-w', '10', '--noflush'], firewallRules(view, wireguardInterface));
  const jumps: Array<[builtin: string, chain: string]> = [['FORWARD', FORWARD_CHAIN], ['INPUT', INPUT_CHAIN]];
  for (const [builtin, chain] of jumps) {
    if (!(await succeeds('iptables', ['-w', '10', '-C', builtin, '-j', chain]))) await mustRun('iptables', ['-w', '10', '-I', builtin, '1', '-j', chain]);
  }
}
