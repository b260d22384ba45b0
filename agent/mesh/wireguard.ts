/**
 * The node's one WireGuard interface. The kernel module is preferred; without it (as on the test
 * machines) `wireguard-go <if>` makes a userspace interface that `ip` and `wg` drive the same way.
 * The private key goes to `wg` as the state directory's own 0600 key file: it is never copied,
 * passed on a command line or logged.
 */
import type { Logger } from '../../protocol/log.ts';
import type { MeshPeer } from '../../protocol/agent-api.ts';
import { mustRun, succeeds } from './command.ts';
import { parseAddresses, parseWireguardPeers, peerChanges } from './plan.ts';

const MTU = '1420';
const KEEPALIVE_SECONDS = '25';

export class WireguardInterface {
  constructor(
    readonly name: string,
    private readonly privateKeyFile: string,
    private readonly log: Logger,
  ) {}

  exists(): Promise<boolean> {
    return succeeds('ip', ['link', 'show', 'dev', this.name]);
  }

  /** Each peer's public key and its latest handshake (seconds since the epoch, 0 for never); none without the interface. */
  async latestHandshakes(): Promise<Array<{ publicKey: string; at: number }>> {
    if (!(await this.exists())) return [];
    const out = await mustRun('wg', ['show', this.name, 'latest-handshakes']);
    return out
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length === 2)
      .map(([publicKey, at]) => ({ publicKey: publicKey!, at: Number(at) }));
  }

  /** Creates the interface if needed and (re)applies key, port, MTU and link state: all idempotent. */
  async ensure(listenPort: number): Promise<void> {
    if (!(await this.exists())) {
      try {
        await mustRun('ip', ['link', 'add', this.name, 'type', 'wireguard']);
        this.log.info('mesh: created WireGuard interface (kernel)', { interface: this.name });
      } catch {
        // No kernel module: the userspace implementation daemonizes and returns once the interface is up.
        await mustRun('wireguard-go', [this.name]);
        this.log.info('mesh: created WireGuard interface (wireguard-go)', { interface: this.name });
      }
    }
    await mustRun('wg', ['set', this.name, 'private-key', this.privateKeyFile, 'listen-port', String(listenPort)]);
    await mustRun('ip', ['link', 'set', 'dev', this.name, 'mtu', MTU, 'up']);
  }

  /**
   * Puts the node's mesh address (a /32) on the interface, and no other: with it the host's own
   * connections through the tunnel (the routing mesh's) leave from an address the peers accept.
   */
  async syncAddress(address: string | undefined): Promise<void> {
    const current = parseAddresses(await mustRun('ip', ['-4', '-o', 'addr', 'show', 'dev', this.name]));
    for (const a of current) if (a !== address) await mustRun('ip', ['addr', 'del', a, 'dev', this.name]);
    if (address && !current.includes(address)) {
      await mustRun('ip', ['addr', 'add', address, 'dev', this.name]);
      this.log.info('mesh: set the node\'s mesh address', { address });
    }
  }

  /** Deleting the link also ends a wireguard-go process (its control socket goes with it). */
  async remove(): Promise<void> {
    if (await this.exists()) await mustRun('ip', ['link', 'del', 'dev', this.name]);
    this.log.info('mesh: removed WireGuard interface (no overlay network has a task here)', { interface: this.name });
  }

  private async peerChanges(desired: MeshPeer[]) {
    const [endpoints, allowed] = await Promise.all([mustRun('wg', ['show', this.name, 'endpoints']), mustRun('wg', ['show', this.name, 'allowed-ips'])]);
    return peerChanges(parseWireguardPeers(endpoints, allowed), desired);
  }

  private async removePeers(keys: string[]): Promise<void> {
    for (const key of keys) {
      await mustRun('wg', ['set', this.name, 'peer', key, 'remove']);
      this.log.info('mesh: removed peer', { publicKey: key });
    }
  }

  /** Only the removals of syncPeers: a removed or down node loses the tunnel without waiting for the rest of a pass. */
  async removeStalePeers(desired: MeshPeer[]): Promise<void> {
    await this.removePeers((await this.peerChanges(desired)).remove);
  }

  /** Converges the peers: sets the new and changed ones, removes the ones no longer named. */
  async syncPeers(desired: MeshPeer[]): Promise<void> {
    const changes = await this.peerChanges(desired);
    await this.removePeers(changes.remove);
    for (const p of changes.set) {
      const allowedIps = p.allowedIps.join(',');
      await mustRun('wg', ['set', this.name, 'peer', p.publicKey, 'endpoint', p.endpoint, 'allowed-ips', allowedIps, 'persistent-keepalive', KEEPALIVE_SECONDS]);
      this.log.info('mesh: set peer', { node: p.nodeId, endpoint: p.endpoint, addresses: p.allowedIps.length });
    }
  }
}
