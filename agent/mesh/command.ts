import { execFile } from 'node:child_process';

/**
 * Runs `ip`, `wg`, `iptables` and friends without a shell (arguments are never parsed as a command
 * line), bounded in time so a wedged tool (say iptables waiting for the xtables lock) cannot stall
 * the mesh forever. Throws with the command and its stderr; `input` is written to its stdin.
 */
export function mustRun(cmd: string, args: string[], input?: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `mustRun`, answering whether it succeeded instead of throwing (for existence checks). */
export function succeeds(cmd: string, args: string[]): Promise<boolean> {
  return mustRun(cmd, args).then(
    () => true,
    () => false,
  );
}
