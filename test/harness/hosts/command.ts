import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion. Every call is bounded: a command still running after `timeoutMs`
 * is killed, so a wedged `ip` or `iptables` (e.g. waiting on the xtables lock) cannot hang a run.
 */
export function run(cmd: string, args: string[], timeoutMs = 30_000, cwd?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === -1 ? err.message : '') });
    });
  });
}

/** `run`, throwing with the command line and what it printed when it fails. */
export async function must(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const res = await run(cmd, args, timeoutMs);
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  return res.stdout;
}

/**
 * The argv prefix that runs a command on a test host, i.e. inside its network namespace only.
 * Not `ip netns exec`: that also remounts /sys, and dockerd then fails ("Devices cgroup isn't
 * mounted"); nsenter keeps the machine's mounts, which the engines need.
 */
export function inNetns(ns: string): string[] {
  return ['nsenter', `--net=/var/run/netns/${ns}`];
}

/** `run` inside a test host's network namespace. */
export function runIn(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<CommandResult> {
  const [launcher, ...launcherArgs] = inNetns(ns);
  return run(launcher!, [...launcherArgs, cmd, ...args], timeoutMs);
}

/** `must` inside a test host's network namespace. */
export function mustIn(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const [launcher, ...launcherArgs] = inNetns(ns);
  return must(launcher!, [...launcherArgs, cmd, ...args], timeoutMs);
}

/** Sleeps; the harness's waits are all loops of these with a count or a deadline. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
