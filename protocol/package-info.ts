import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root: the nearest folder above this module holding package.json. Source modules
 * sit one level deeper in a checkout than their compiled copies in dist/, so paths to the
 * migrations, the bin scripts and package.json are found from here, never by counting `..`.
 */
export function packageRoot(): string {
  const self = fileURLToPath(import.meta.url);
  for (let dir = dirname(self); ; ) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json in any folder above ${self}`);
    dir = parent;
  }
}

/** The version in package.json: what `--version` prints. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The absolute path of one of the package's compiled commands (bin/<name>.js), as a unit file's ExecStart needs it. */
export function packageBin(name: 'swarm-agent' | 'swarmlet'): string {
  return join(packageRoot(), 'bin', `${name}.js`);
}
