/**
 * swarm-agent: joins this Docker host to a swarmlet cluster and runs its tasks.
 *
 *   swarm-agent join <token> [host:port]        join, then run in the foreground
 *   swarm-agent join --token <token> [host:port] the form `docker swarm join-token worker` prints
 *   swarm-agent run                              run again from the saved state
 *   swarm-agent install | uninstall              the systemd unit that runs `run` at boot
 */
import { parseArgs } from 'node:util';
import { SwarmAgent } from './agent.ts';
import { type AgentConfig, DEFAULT_ENGINE, loadAgentConfig, UsageError } from './config.ts';
import { connectDocker, isControlPlane } from './docker.ts';
import { AgentExit, joinCluster } from './join.ts';
import { controlPlaneUrl, decodeJoinToken } from './join-token.ts';
import { createLogger, type Logger } from '../protocol/log.ts';
import { packageVersion } from '../protocol/package-info.ts';
import { installService, uninstallService } from '../protocol/service-install.ts';
import { AGENT_UNIT, agentUnit } from './service.ts';
import { StateDir } from './state.ts';

const USAGE = `Usage:
  swarm-agent join <token> [host:port] [options]
  swarm-agent join --token <token> [host:port] [options]
  swarm-agent run [options]
  swarm-agent install [options]    install and start the systemd unit swarm-agent.service, which runs
                                   \`swarm-agent run\` with these options (join first, or join --install)
  swarm-agent uninstall            stop it and remove the unit (the state dir and task containers stay)
  swarm-agent --version

Options (or the SWARM_AGENT_* variable in brackets):
  --state-dir DIR          where the node keeps its identity (SWARM_AGENT_STATE_DIR; /var/lib/swarm-agent)
  --docker-host ADDR       Docker engine, unix:///path or tcp://host:port (SWARM_AGENT_DOCKER_HOST, DOCKER_HOST)
  --advertise-addr IP      address other hosts reach this one at (SWARM_AGENT_ADVERTISE_ADDR)
  --hostname NAME          node hostname (SWARM_AGENT_HOSTNAME)
  --label k=v              engine label (constraint engine.labels.k), repeatable (SWARM_AGENT_LABELS=k=v,k2=v2)
  --wireguard-interface IF overlay tunnel interface (SWARM_AGENT_WIREGUARD_INTERFACE; swarmlet0)
  --dns-upstream IP[:PORT] resolver for names that are not the swarm's, repeatable
                           (SWARM_AGENT_DNS_UPSTREAM=a,b; the host's /etc/resolv.conf)
  --metrics-addr HOST:PORT serve Prometheus metrics at http://HOST:PORT/metrics, unauthenticated:
                           keep it on loopback, e.g. 127.0.0.1:9323 (SWARM_AGENT_METRICS_ADDR; off)
  --log-format text|json   (SWARM_AGENT_LOG_FORMAT)
  --debug                  log debug lines (SWARM_AGENT_DEBUG=1)
  --install                with join: once joined, install the unit and leave running to it
  --unit-dir DIR           where install writes the unit (/etc/systemd/system; without systemd
                           running, install prints the unit unless this is given)
Tuning: SWARM_AGENT_LONG_POLL_WAIT_MS (30000), how long one wait for assignments may last.`;

function parseCommandLine(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      token: { type: 'string' },
      'state-dir': { type: 'string' },
      'docker-host': { type: 'string' },
      'advertise-addr': { type: 'string' },
      hostname: { type: 'string' },
      label: { type: 'string', multiple: true },
      'wireguard-interface': { type: 'string' },
      'dns-upstream': { type: 'string', multiple: true },
      'metrics-addr': { type: 'string' },
      'log-format': { type: 'string' },
      debug: { type: 'boolean' },
      install: { type: 'boolean' },
      'unit-dir': { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  return { values, command: positionals[0], args: positionals.slice(1) };
}

function prepareStateDir(config: AgentConfig): StateDir {
  const state = new StateDir(config.stateDir);
  try {
    state.ensure();
  } catch (err) {
    throw new AgentExit(`cannot use state directory ${config.stateDir}: ${(err as Error).message}; run as root or pass --state-dir`);
  }
  return state;
}

async function main(argv: string[], log: (l: Logger) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, command, args } = parsed;
  if (values.version) {
    console.log(`swarm-agent ${packageVersion()}`);
    return 0;
  }
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['join', 'run', 'install', 'uninstall'].includes(command)) throw new UsageError(`unknown command '${command}'`);
  if (values.install && command !== 'join') throw new UsageError(`--install goes with join; to install the unit for a joined node: swarm-agent install`);
  const service = { ...(values['unit-dir'] ? { unitDir: values['unit-dir'] } : {}), say: (line: string) => console.log(line) };
  if (command === 'uninstall') {
    if (args.length) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
    await uninstallService(AGENT_UNIT, service);
    console.log('the node stays in its cluster (docker node rm removes it) and its state dir and task containers stay');
    return 0;
  }

  let config = loadAgentConfig(values);
  const logger = createLogger({ format: config.logFormat, debug: config.debug });
  log(logger);
  const state = prepareStateDir(config);
  // The README's flow exports DOCKER_HOST=<control plane> (and its TLS settings) for the docker CLI in
  // the same shell: they are not this host's engine's, and docker-modem would read them regardless.
  const cliEnvNamesControlPlane = !!process.env.DOCKER_HOST && (await isControlPlane(process.env.DOCKER_HOST));
  if (cliEnvNamesControlPlane) for (const name of ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete process.env[name];
  if (config.dockerHostFromDockerCliEnv && cliEnvNamesControlPlane) {
    logger.info('DOCKER_HOST names the swarmlet control plane (it is the docker CLI\'s); using this host\'s engine', { engine: DEFAULT_ENGINE });
    config = { ...config, dockerHost: DEFAULT_ENGINE };
  }
  if (command === 'install') {
    if (args.length) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
    if (!state.readIdentity()) throw new AgentExit(`no saved node state in ${config.stateDir}; join first: swarm-agent join <token> --install`);
    await installService(agentUnit(config, values), service);
    return 0;
  }
  const docker = connectDocker(config.dockerHost);

  let identity;
  if (command === 'join') {
    const token = values.token ?? args.shift();
    if (!token) throw new UsageError('join needs a token: swarm-agent join <token> (get one with: docker swarm join-token worker)');
    if (args.length > 1) throw new UsageError(`unexpected arguments: ${args.slice(1).join(' ')}`);
    const claims = decodeJoinToken(token);
    const url = controlPlaneUrl(claims.url, args[0]);
    identity = await joinCluster({ url, token, clusterId: claims.clusterId, docker, config, state, log: logger });
    if (values.install) {
      const outcome = await installService(agentUnit(config, values), service);
      if (outcome !== 'started') console.log(`joined; until the unit runs, start the agent with: swarm-agent run --state-dir ${config.stateDir}`);
      return 0;
    }
  } else {
    if (args.length) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
    identity = state.readIdentity();
    if (!identity) throw new AgentExit(`no saved node state in ${config.stateDir}; join first: swarm-agent join <token>`);
  }

  const agent = new SwarmAgent({ config, identity, state, docker, log: logger });
  const onSignal = (signal: string) => {
    logger.info('stopping; task containers keep running and are adopted at the next start', { signal });
    agent.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await agent.run();
  return 0;
}

let logger: Logger | undefined;
main(process.argv.slice(2), (l) => (logger = l)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      console.error(`swarm-agent: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    const message = err instanceof AgentExit ? err.message : `unexpected error: ${(err as Error)?.stack ?? err}`;
    if (logger) logger.error(message);
    console.error(`swarm-agent: ${message}`);
    process.exit(err instanceof AgentExit ? err.code : 1);
  },
);
