import { createClient } from '@libsql/client';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyRingFrom, newKek, sealedWith } from '../../control-plane/auth/envelope.ts';
import { loadKeyRing } from '../../control-plane/auth/kek-file.ts';
import { openSigningKey } from '../../control-plane/auth/signing-keys.ts';
import { createSigningKey } from '../../control-plane/auth/tokens.ts';
import { loadConfig } from '../../control-plane/config.ts';
import { startControlPlane } from '../harness/control-plane-process.ts';

/** Where the Node control plane keeps its key-encryption keys, and what a start does with them. */
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-kek-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('key-encryption key file', () => {
  it('is created 0600 beside the database at first start, and the same key is read afterwards', async () => {
    const config = loadConfig({ DATA_DIR: tempDir() });
    expect(config.kek.file).toBe(`${config.dataDir}/kek`);
    const first = await loadKeyRing(config);
    expect(statSync(config.kek.file).mode & 0o777).toBe(0o600);
    expect((await loadKeyRing(config)).currentId).toBe(first.currentId);
  });

  it('takes the first key of the file as current and the others as previous; comments are skipped', async () => {
    const dir = tempDir();
    const [current, previous] = [newKek(), newKek()];
    writeFileSync(join(dir, 'kek'), `# rotated today\n${current}\n${previous}\n`, { mode: 0o600 });
    const ring = await loadKeyRing(loadConfig({ DATA_DIR: dir }));
    expect(ring.currentId).toBe((await keyRingFrom([current])).currentId);
    expect([...ring.keys.keys()]).toEqual([ring.currentId, (await keyRingFrom([previous])).currentId]);
  });

  it('refuses a key file other users can read', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'kek'), `${newKek()}\n`);
    chmodSync(join(dir, 'kek'), 0o644);
    await expect(loadKeyRing(loadConfig({ DATA_DIR: dir }))).rejects.toThrow(/readable by other users; chmod 600 it/);
  });

  it('uses KEK from the environment (current first) and then writes no file', async () => {
    const dir = tempDir();
    const [a, b] = [newKek(), newKek()];
    const ring = await loadKeyRing(loadConfig({ DATA_DIR: dir, KEK: `${a}, ${b}` }));
    expect(ring.currentId).toBe((await keyRingFrom([a])).currentId);
    expect(ring.keys.size).toBe(2);
    expect(existsSync(join(dir, 'kek'))).toBe(false);
  });

  it('refuses token lifetimes beyond the policy maximum', () => {
    expect(() => loadConfig({ JOIN_TOKEN_TTL_MS: String(400 * 86400_000) })).toThrow(/JOIN_TOKEN_TTL_MS .* must not exceed JOIN_TOKEN_MAX_TTL_MS/);
    expect(() => loadConfig({ NODE_CREDENTIAL_TTL_MS: '7200000', NODE_CREDENTIAL_MAX_TTL_MS: '3600000' })).toThrow(/NODE_CREDENTIAL_MAX_TTL_MS/);
  });
});

describe('the control plane process', () => {
  it('seals at start a signing key an older version stored in plain text', async () => {
    const dataDir = tempDir();
    let cp = await startControlPlane({ dataDir });
    await cp.stop();
    expect(statSync(join(dataDir, 'kek')).mode & 0o777).toBe(0o600);
    // The row as the code before sealing wrote it.
    const old = await createSigningKey();
    const raw = createClient({ url: `file:${dataDir}/control-plane.db` });
    await raw.execute({ sql: 'UPDATE clusters SET signing_key = ?', args: [JSON.stringify(old)] });

    cp = await startControlPlane({ dataDir });
    try {
      await cp.waitForOutput(/signing keys at rest: sealed 1 stored in plain text/);
      const { rows } = await raw.execute('SELECT id, signing_key FROM clusters');
      const stored = JSON.parse(String(rows[0]!.signing_key));
      expect(stored.privateJwk).toBeUndefined();
      const ring = await keyRingFrom(readFileSync(join(dataDir, 'kek'), 'utf8').trim().split('\n'));
      expect(sealedWith(stored.sealedPrivateJwk)).toBe(ring.currentId);
      expect((await openSigningKey(ring, { id: String(rows[0]!.id), signingKey: stored })).privateJwk).toEqual(old.privateJwk);
    } finally {
      raw.close();
      await cp.stop();
    }
  }, 60_000);
});
