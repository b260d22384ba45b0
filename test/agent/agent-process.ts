import { spawnTs, type WatchedProcess } from '../harness/process-output.ts';

export const ENGINE = 'unix:///var/run/docker.sock';

export type AgentProcess = WatchedProcess;

/**
 * Runs the real agent CLI (`node --import tsx agent/cli.ts ...`) as its own process; `launcher`
 * puts it elsewhere, e.g. on a test host (see spawnTs).
 */
export function spawnAgent(args: string[], env: Record<string, string> = {}, launcher: string[] = []): AgentProcess {
  return spawnTs('agent/cli.ts', args, { DOCKER_HOST: ENGINE, ...env }, 'agent', 20_000, launcher);
}

/** Runs the agent CLI until it exits (killed after 20 s): its exit and everything it printed. */
export async function runAgentToExit(args: string[], env: Record<string, string> = {}) {
  const agent = spawnAgent(args, env);
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000));
  const exit = await Promise.race([agent.exited, timeout]);
  if (exit === 'timeout') await agent.stop('SIGKILL');
  return { exit, output: agent.output() };
}

/** A join token's shape with any payload: the agent reads the URL without verifying. */
export function fakeJoinToken(payload: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'EdDSA', typ: 'swarmlet-join+jwt' })}.${part(payload)}.${Buffer.from('not-a-signature').toString('base64url')}`;
}
