import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every regular file under a directory, as bytes: for tests that look for a value where it must
 * never be. Links are not followed and sockets or pipes not read; a file that goes away while it
 * is walked (an engine or a database at work) is skipped.
 */
export function filesUnder(dir: string): Array<{ path: string; bytes: Buffer }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    try {
      const stat = lstatSync(path);
      if (stat.isDirectory()) return filesUnder(path);
      return stat.isFile() ? [{ path, bytes: readFileSync(path) }] : [];
    } catch {
      return [];
    }
  });
}

/** The paths of the files under the directories that hold any of the values, as text or in base64. */
export function filesHolding(dirs: string[], values: string[]): string[] {
  const needles = values.flatMap((v) => [v, Buffer.from(v).toString('base64')]);
  return dirs.flatMap(filesUnder).filter((f) => needles.some((n) => f.bytes.includes(n))).map((f) => f.path);
}
