import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { loadOrCreateClusterCa } from './ca-dir.ts';
import { certificateDigest, lastCertificate, tlsInfoOf } from './certificates.ts';
import { ServerIdentity } from './server-identity.ts';
import { serverNames } from './server-names.ts';
import type { ClusterTrust } from './trust.ts';

/** How the Node control plane serves HTTPS: its first certificate, what tokens pin, and how a new name is covered. */
export interface NodeTls {
  secureContext: SecureContextOptions;
  trust: ClusterTrust;
  /** The CA the docker CLI config gets as `ca.pem`; undefined for a certificate the system roots verify. */
  caPem: string | undefined;
  /** Makes the certificate name `host` (no-op for a user-supplied certificate: its names are the user's). */
  cover(host: string, apply: (context: SecureContextOptions) => void): Promise<void>;
  describe: string;
}

/** Reads (or at first start creates) the TLS identity the config asks for; undefined for TLS=off. */
export async function prepareNodeTls(config: Config, database: Database): Promise<NodeTls | undefined> {
  const tls = config.tls;
  if (tls.mode === 'off') return undefined;
  if (tls.mode === 'files') {
    const cert = readPem(tls.certFile, 'TLS_CERT_FILE');
    const key = readPem(tls.keyFile, 'TLS_KEY_FILE');
    return {
      secureContext: { cert, key },
      trust: { pin: 'system', tlsInfo: tlsInfoOf(lastCertificate(cert)) },
      caPem: undefined,
      cover: async () => undefined,
      describe: `certificate ${tls.certFile} (agents verify it against their system roots)`,
    };
  }
  const { ca, created } = await loadOrCreateClusterCa(tls.dir);
  const identity = await ServerIdentity.issue(ca, await serverNames(config, database));
  const pin = certificateDigest(ca.certPem);
  return {
    get secureContext() {
      return identity.secureContext;
    },
    trust: { pin, tlsInfo: tlsInfoOf(ca.certPem) },
    caPem: ca.certPem,
    cover: (host, apply) => identity.cover(host, apply),
    describe: `${created ? 'created the' : ''} cluster CA ${pin} in ${tls.dir}; certificate for ${identity.serverNames.join(', ')}`.trimStart(),
  };
}

function readPem(file: string, name: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${name} ${file} cannot be read: ${(err as Error).message}`);
  }
}
