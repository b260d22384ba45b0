import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config.ts';
import { type KeyRing, keyRingFrom, newKek } from './envelope.ts';

/**
 * The Node control plane's key-encryption keys: KEK from the environment if set, else the key file
 * (`$DATA_DIR/kek`, beside the database, never in it), created 0600 at first start. The file holds
 * one base64 key per line, the current one first; lines starting with `#` are comments.
 */
export async function loadKeyRing(config: Config): Promise<KeyRing> {
  return keyRingFrom(config.kek.keys.length ? config.kek.keys : readKekFile(config.kek.file));
}

function readKekFile(file: string): string[] {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `${newKek()}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
    } catch (err) {
      // Another instance on this data dir created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  // A key others on the host can read protects nothing: say so rather than use it.
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    throw new Error(`key-encryption key file ${file} is readable by other users; chmod 600 it`);
  }
  const keys = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  if (!keys.length) throw new Error(`key-encryption key file ${file} holds no key`);
  return keys;
}
