import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** The repository's root, where `npm start` and `npm run agent` run. */
export const ROOT = resolve(import.meta.dirname, '../..');

export type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

export interface WatchedProcess {
  proc: ChildProcess;
  /** All it has printed so far, stdout and stderr interleaved as they came. */
  output(): string;
  /** Resolves with the first match of the pattern in what it has printed (waiting for more if need be). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<ExitStatus>;
  /** Sends the signal unless it has exited already, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Collects what a process spawned with piped stdout and stderr prints. `name` is what a failed
 * waitForOutput calls it; `defaultTimeoutMs` how long waitForOutput waits unless told.
 */
export function watchOutput(proc: ChildProcess, name: string, defaultTimeoutMs = 20_000): WatchedProcess {
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<ExitStatus>((r) =>
    proc.once('exit', (code, signal) => {
      for (const l of listeners) l();
      r({ code, signal });
    }),
  );
  const waitForOutput = (pattern: RegExp, timeoutMs = defaultTimeoutMs) =>
    new Promise<string>((resolvePromise, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m) {
          listeners.delete(check);
          clearTimeout(timer);
          resolvePromise(m[0]);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms; output:\n${out}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return {
    proc,
    output: () => out,
    waitForOutput,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/**
 * Runs one of the repository's TypeScript entry points (`node --import tsx <script> ...args`) as
 * its own process in the repository's root, with `env` over this process's environment.
 * `launcher` runs node through another command that execs it (e.g. `nsenter --net=…` to put the
 * process on a test host), so the process's id is still node's.
 */
export function spawnTs(
  script: string,
  args: string[],
  env: Record<string, string>,
  name: string,
  defaultTimeoutMs?: number,
  launcher: string[] = [],
): WatchedProcess {
  return spawnWatched([...launcher, process.execPath, '--import', 'tsx', resolve(ROOT, script), ...args], env, name, defaultTimeoutMs);
}

/** Runs a command line (an installed command, say) in the repository's root with `env` over this process's environment. */
export function spawnWatched(command: string[], env: Record<string, string>, name: string, defaultTimeoutMs?: number): WatchedProcess {
  const proc = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchOutput(proc, name, defaultTimeoutMs);
}
