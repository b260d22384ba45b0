import { networkInterfaces } from 'node:os';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

const bare = (host: string) => host.replace(/^\[|\]$/g, '');

/**
 * Every name agents and the CLI may dial this control plane by, for the server certificate's SANs:
 * loopback, HOST, PUBLIC_URL's host, this machine's interface addresses, and each cluster's
 * `docker swarm init --advertise-addr` (stored, so an instance started later names it too).
 */
export async function serverNames(config: Config, database: Database): Promise<string[]> {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  if (!WILDCARDS.has(config.host)) names.add(bare(config.host));
  if (config.publicUrl) names.add(bare(new URL(config.publicUrl).hostname));
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.address.startsWith('fe80:')) names.add(a.address);
  }
  const advertised = await database.db.query.clusters.findMany({ columns: { advertiseUrl: true } });
  for (const { advertiseUrl } of advertised) if (advertiseUrl) names.add(bare(new URL(advertiseUrl).hostname));
  return [...names];
}
