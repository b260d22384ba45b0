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

/** A join token's shape with any payload: the agent reads the URL without verifying. */
export function fakeJoinToken(payload: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'EdDSA', typ: 'swarmlet-join+jwt' })}.${part(payload)}.${Buffer.from('not-a-signature').toString('base64url')}`;
}
