import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './command.ts';

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const found = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // Field 5 is the mount point, with spaces and the like escaped as \040 (none in our paths).
    const point = line.split(' ')[4];
    if (point && (point === dir || point.startsWith(`${dir}/`))) found.add(point);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/**
 * Unmounts what a killed engine left mounted under its directories: the engines share the root
 * mount namespace (nsenter --net only), so a SIGKILLed dockerd leaves its data root, overlay
 * `merged` dirs and container netns files mounted here until someone lazily unmounts them.
 */
export async function unmountUnder(dir: string): Promise<void> {
  for (const point of mountsUnder(dir)) await run('umount', ['-l', point], 10_000);
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`still mounted under ${dir}: ${left.join(' ')}`);
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Top-level cgroups whose name starts with `prefix` (the engines' --cgroup-parent), in every v1 hierarchy. */
export function cgroupsWithPrefix(prefix: string): string[] {
  const dirsIn = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
    } catch {
      return [];
    }
  };
  return dirsIn(CGROUP_ROOT).flatMap((hierarchy) => dirsIn(hierarchy).filter((d) => d.slice(hierarchy.length + 1).startsWith(prefix)));
}

/**
 * Removes a cgroup and the ones below it, leaves first. A killed engine never removes its
 * containers' cgroups. rmdir is the only way to delete a cgroup and it refuses one that still has
 * processes, so nothing alive is touched.
 */
export function removeCgroupTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  rmdirSync(dir);
}
