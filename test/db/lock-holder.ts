import { spawn, type ChildProcess } from 'node:child_process';

/** A real outside `sqlite3` process holding a database file's write lock until released. */
export interface LockHolder {
  proc: ChildProcess;
  /** Commits what it wrote under the lock and exits. */
  release(): Promise<void>;
}

/** Takes BEGIN IMMEDIATE in a `sqlite3` process, runs `sqlUnderLock`, and holds the lock. */
export async function holdWriteLock(file: string, sqlUnderLock = ''): Promise<LockHolder> {
  const proc = spawn('sqlite3', [file], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stdin!.write(`.timeout 5000\nBEGIN IMMEDIATE;\n${sqlUnderLock}\nSELECT 'locked';\n`);
  const deadline = Date.now() + 10_000;
  while (!out.includes('locked')) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`sqlite3 did not take the lock: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    proc,
    async release() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.stdin!.end('COMMIT;\n');
      await exited;
    },
  };
}
