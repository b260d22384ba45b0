import { resolve } from 'node:path';
import { packageBin } from '../protocol/package-info.ts';
import type { ServiceUnit } from '../protocol/systemd-unit.ts';
import type { AgentConfig } from './config.ts';

export const AGENT_UNIT = 'swarm-agent';

/** Flags a unit passes on as given: what the host says about itself at each (re)join. */
const PASSED_ON = ['advertise-addr', 'hostname', 'label', 'wireguard-interface', 'dns-upstream'] as const;

/**
 * The agent's unit: `swarm-agent run` on the state dir it joined with, its engine socket and log
 * format spelled out (a unit must not depend on the installing shell's environment), started after
 * the engine. Node runs the compiled bin directly: one process.
 */
export function agentUnit(config: AgentConfig, flags: Record<string, string | string[] | boolean | undefined>): ServiceUnit {
  const passedOn = PASSED_ON.flatMap((name) => {
    const value = flags[name];
    const values = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
    return values.flatMap((v) => [`--${name}`, v]);
  });
  return {
    name: AGENT_UNIT,
    description: 'swarmlet agent: runs this Docker host\'s swarm tasks',
    execStart: [
      process.execPath,
      packageBin('swarm-agent'),
      'run',
      '--state-dir',
      resolve(config.stateDir),
      '--docker-host',
      config.dockerHost,
      '--log-format',
      config.logFormat,
      ...passedOn,
      ...(config.debug ? ['--debug'] : []),
    ],
    after: ['network-online.target', 'docker.service'],
  };
}
