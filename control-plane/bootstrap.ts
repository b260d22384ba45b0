import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KeyRing } from './auth/envelope.ts';
import type { Database } from './db/database.ts';
import { addApiKey } from './swarm/api-keys.ts';
import { createCluster } from './swarm/clusters.ts';

/**
 * First start on an empty database: a default tenant, its cluster and an API key, with a docker
 * CLI config that sends the key. The key exists in plain text only in that file (0600); if the
 * file is lost (or a crash came between the commit and the write), the next start issues the
 * default cluster a new key and writes the file again.
 */
export async function bootstrap(database: Database, keyRing: KeyRing, dataDir: string, now: number): Promise<{ created: boolean; dockerConfigDir: string }> {
  const dockerConfigDir = resolve(join(dataDir, 'docker'));
  const first = await database.db.query.clusters.findFirst({ columns: { id: true }, orderBy: (c, { asc }) => asc(c.createdAt) });
  if (first && dockerConfigExists(dockerConfigDir)) return { created: false, dockerConfigDir };
  const apiKey = first
    ? await addApiKey(database, first.id, 'docker-config', now)
    : (await createCluster(database, { tenant: 'default', name: 'default', initialize: false, now, keyRing })).apiKey;
  mkdirSync(dockerConfigDir, { recursive: true, mode: 0o700 });
  const file = join(dockerConfigDir, 'config.json');
  writeFileSync(file, JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${apiKey}` } }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { created: !first, dockerConfigDir };
}

/**
 * The cluster CA beside the CLI config, as `DOCKER_CERT_PATH/ca.pem` (DOCKER_TLS_VERIFY=1): written
 * at every start, so a config dir always trusts the CA this control plane serves with.
 */
export function writeDockerCa(dockerConfigDir: string, caPem: string) {
  mkdirSync(dockerConfigDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dockerConfigDir, 'ca.pem'), caPem, { mode: 0o644 });
}

export function dockerConfigExists(dir: string): boolean {
  return existsSync(join(dir, 'config.json'));
}
