import { expect } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { type CliResult, docker } from '../harness/docker-cli.ts';

export interface CliSession {
  cp: ControlPlaneProcess;
  /** Runs the real docker CLI against this control plane with the printed DOCKER_CONFIG and DOCKER_HOST. */
  cli(...args: string[]): Promise<CliResult>;
  /** Like cli, but the command must succeed; returns its stdout. */
  ok(...args: string[]): Promise<string>;
  /** Runs the CLI with `stdin` piped to it (`docker secret create s -`). */
  piped(stdin: string, ...args: string[]): Promise<CliResult>;
}

/** A control plane process of its own and the docker CLI pointed at it, exactly as a user would. */
export async function startCliSession(opts: Parameters<typeof startControlPlane>[0] = {}): Promise<CliSession> {
  const cp = await startControlPlane(opts);
  const cli = (...args: string[]) => docker(args, cp.dockerEnv, { timeoutMs: 20_000 });
  return {
    cp,
    cli,
    piped: (stdin, ...args) => docker(args, cp.dockerEnv, { timeoutMs: 20_000, stdin }),
    async ok(...args) {
      const r = await cli(...args);
      expect(r, `docker ${args.join(' ')}`).toMatchObject({ code: 0 });
      return r.stdout;
    },
  };
}

/** Splits a CLI table into rows of cells (two or more spaces separate columns). */
export function table(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}/));
}

/** POSTs a join as swarm-agent would, with a given token; no API key. */
export async function agentJoin(url: string, token: string, hostname = 'e2e-host'): Promise<Response> {
  return fetch(`${url}/agent/v1/join`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      token,
      node: { hostname, nanoCpus: 1_000_000_000, memoryBytes: 1024 ** 3, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '198.18.0.9' },
    }),
  });
}
