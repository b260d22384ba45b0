import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type CaMaterial, createClusterCa } from './certificates.ts';

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';

/**
 * The cluster CA of the Node control plane: `$DATA_DIR/tls/{ca.pem,ca-key.pem}`, beside the database
 * and never in it, the key 0600. Made at first start in a scratch directory renamed into place, so
 * instances starting together on one data dir all end up with the one that won the rename.
 */
export async function loadOrCreateClusterCa(dir: string): Promise<{ ca: CaMaterial; created: boolean }> {
  let created = false;
  if (!existsSync(join(dir, CA_KEY_FILE))) {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    const ca = await createClusterCa();
    const scratch = mkdtempSync(`${dir}.new-`);
    writeFileSync(join(scratch, CA_CERT_FILE), ca.certPem, { mode: 0o644 });
    writeFileSync(join(scratch, CA_KEY_FILE), ca.keyPem, { mode: 0o600 });
    chmodSync(join(scratch, CA_KEY_FILE), 0o600);
    chmodSync(scratch, 0o700);
    try {
      renameSync(scratch, dir);
      created = true;
    } catch (err) {
      // Another instance on this data dir made it first: use theirs.
      rmSync(scratch, { recursive: true, force: true });
      if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
  const keyFile = join(dir, CA_KEY_FILE);
  // A CA key others on the host can read lets them impersonate the control plane: refuse it.
  if (process.platform !== 'win32' && (statSync(keyFile).mode & 0o077) !== 0) {
    throw new Error(`cluster CA key ${keyFile} is readable by other users; chmod 600 it`);
  }
  return { ca: { certPem: readFileSync(join(dir, CA_CERT_FILE), 'utf8'), keyPem: readFileSync(keyFile, 'utf8') }, created };
}
