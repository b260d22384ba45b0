import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import type { TaskFile } from '../../protocol/agent-api.ts';
import { FatalTaskError } from './controller.ts';

const run = promisify(execFile);

/** Each task's secrets and configs live in a tmpfs of its own here: in memory, never on the host's disk. */
export const TASK_FILES_ROOT = '/run/swarm-agent/task-files';

const dirOf = (taskId: string) => join(TASK_FILES_ROOT, taskId);

const numericId = (id: string, what: string) => {
  if (!/^\d+$/.test(id)) throw new FatalTaskError(`${what} ${JSON.stringify(id)} of a secret or config file must be numeric`);
  return Number(id);
};

/**
 * Mounts a fresh tmpfs for the task, writes its files there with their owner and mode, and returns
 * the read-only bind mounts that put each at its target in the container.
 */
export async function mountTaskFiles(taskId: string, files: TaskFile[]): Promise<Dockerode.MountSettings[]> {
  if (!files.length) return [];
  const dir = dirOf(taskId);
  await removeTaskFiles(taskId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Room for the files and their pages, whatever their number (a secret is under 500 KB, a config 1000 KB).
  const size = files.reduce((sum, f) => sum + Math.ceil((f.data.length * 3) / 4) + 4096, 64 * 1024);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `mode=0700,size=${size},noexec,nosuid,nodev`, 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    // Never fall back to the disk: without a tmpfs (the agent not root, say) the task cannot have its files.
    throw new FatalTaskError(`cannot mount a tmpfs for the task's secrets and configs at ${dir}: ${(err as Error).message.trim()}`);
  }
  const mounts: Dockerode.MountSettings[] = [];
  for (const [i, file] of files.entries()) {
    const source = join(dir, String(i));
    await writeFile(source, Buffer.from(file.data, 'base64'), { mode: 0o600 });
    await chown(source, numericId(file.uid, 'uid'), numericId(file.gid, 'gid'));
    await chmod(source, file.mode & 0o7777);
    mounts.push({ Type: 'bind', Source: source, Target: file.target, ReadOnly: true });
  }
  return mounts;
}

/** Unmounts the task's tmpfs (its files go with it) and removes the empty directory. */
export async function removeTaskFiles(taskId: string): Promise<void> {
  const dir = dirOf(taskId);
  await run('umount', [dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
