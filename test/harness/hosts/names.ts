import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProcessOwner } from './processes.ts';

/** How many /24s of 198.18.0.0/16 runs may claim at once (each also owns a /20 of 172.31.0.0/16). */
export const SLOTS = 16;
/** Hosts per run: host i's engine bridge is the i-th /24 of the run's /20, 0 left unused. */
export const MAX_HOSTS = 15;

/** The host's side of its veth, inside its namespace (each namespace has its own, so one name). */
export const HOST_LINK = 'eth0';

/** One test host's names and addresses, all derived from the run's prefix and slot. */
export interface HostNames {
  index: number;
  /** Network namespace, root-side veth end, engine cgroup parent and the node's hostname. */
  name: string;
  /** This host's address on the test bridge: what it advertises and what the others reach. */
  addr: string;
  /** The host engine's docker0 (`--bip`): a range of its own, inside the run's container range. */
  bip: string;
  /** For the overlay: wireguard-go's control socket is /var/run/wireguard/<ifname>.sock, shared by all hosts. */
  wireguardInterface: string;
  dir: string;
  engineSocket: string;
  engineUrl: string;
  agentStateDir: string;
  /** How to tell this host's processes (killHost kills exactly these). */
  owner: ProcessOwner;
}

/**
 * Every name a run creates on the machine carries its prefix (`swl` and 5 random characters), so
 * teardown and the leftover check find exactly this run's namespaces, links, chains, processes,
 * mounts and cgroups, and never another run's. The slot picks the run's subnets.
 */
export class RunNames {
  constructor(
    readonly prefix: string,
    readonly slot: number,
  ) {
    if (!/^swl[a-z0-9]{5}$/.test(prefix)) throw new Error(`not a run prefix: ${prefix}`);
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new Error(`slot ${slot} out of range`);
  }

  static randomPrefix(): string {
    return `swl${Math.random().toString(36).slice(2, 7).padEnd(5, '0')}`;
  }

  /** The test bridge's subnet; the bridge (root namespace) is .1, where the control plane listens. */
  get subnet(): string {
    return `198.18.${this.slot}.0/24`;
  }
  get gateway(): string {
    return `198.18.${this.slot}.1`;
  }
  /** All the hosts' engine bridges (their containers' source addresses) lie in this /20. */
  get containerRange(): string {
    return `172.31.${this.slot * 16}.0/20`;
  }
  get bridge(): string {
    return `${this.prefix}-br`;
  }
  /** Root-namespace iptables chains: forwarding, input and output guards of this run. */
  get chains(): { forward: string; input: string; output: string } {
    return { forward: `${this.prefix}-fwd`, input: `${this.prefix}-in`, output: `${this.prefix}-out` };
  }
  /** Short on purpose: containerd's sockets live under it and unix socket paths stop at 108 bytes. */
  get baseDir(): string {
    return join(tmpdir(), this.prefix);
  }
  get controlPlaneDir(): string {
    return join(this.baseDir, 'cp');
  }
  /** How to tell the run's processes: its directory, or an argument that is one of its names. */
  get owner(): ProcessOwner {
    return { dir: this.baseDir, ownsArg: (arg) => arg.startsWith(`${this.prefix}-`) };
  }
  get imageTar(): string {
    return join(this.baseDir, 'images.tar');
  }

  host(index: number): HostNames {
    if (!Number.isInteger(index) || index < 1 || index > MAX_HOSTS) throw new Error(`host index ${index} out of 1..${MAX_HOSTS}`);
    const name = `${this.prefix}-h${index}`;
    const dir = join(this.baseDir, `h${index}`);
    const engineSocket = join(dir, 'docker.sock');
    const wireguardInterface = `${this.prefix}-wg${index}`;
    return {
      index,
      name,
      addr: `198.18.${this.slot}.${10 + index}`,
      bip: `172.31.${this.slot * 16 + index}.1/24`,
      wireguardInterface,
      dir,
      engineSocket,
      engineUrl: `unix://${engineSocket}`,
      agentStateDir: join(dir, 'agent'),
      owner: { dir, ownsArg: (arg) => arg === wireguardInterface },
    };
  }
}
