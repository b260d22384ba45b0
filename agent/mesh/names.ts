/** Names the overlay data plane gives what it creates on a host, so it finds (and only touches) its own. */

/** The Docker network (bridge driver, on the host's own engine) that carries one overlay network here. */
export const overlayNetworkName = (networkId: string) => `swarmlet-${networkId}`;

/** Its Linux bridge: chosen by us so the firewall rules can name it; at most 15 characters (IFNAMSIZ). */
export const overlayBridgeName = (networkId: string) => `swl-${networkId.slice(0, 11)}`;

/** Labels on those Docker networks: only networks carrying them are ever removed. */
export const MESH_NETWORK_LABEL = 'swarmlet.mesh.network.id';
export const MESH_NODE_LABEL = 'swarmlet.mesh.node.id';

/** The agent's own iptables chains in the host's filter table (jumped to from FORWARD and INPUT). */
export const FORWARD_CHAIN = 'SWARMLET-MESH';
export const INPUT_CHAIN = 'SWARMLET-MESH-IN';
/** And in its nat table (jumped to from PREROUTING and POSTROUTING): the services' virtual IPs. */
export const VIP_CHAIN = 'SWARMLET-VIP';
export const VIP_POST_CHAIN = 'SWARMLET-VIP-POST';

export const DEFAULT_WIREGUARD_INTERFACE = 'swarmlet0';
