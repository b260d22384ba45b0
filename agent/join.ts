import type Dockerode from 'dockerode';
import { ControlPlaneClient, ControlPlaneError, ControlPlaneUnreachable } from './client.ts';
import { pinnedCa } from './ca-pin.ts';
import type { AgentConfig } from './config.ts';
import { engineMessage, isControlPlane } from './docker.ts';
import type { ControlPlaneInstances } from './instances.ts';
import type { Logger } from '../protocol/log.ts';
import { decodeJoinToken } from './join-token.ts';
import { describeNode } from './node-info.ts';
import type { NodeIdentity, StateDir } from './state.ts';

/** A reason to stop that the user can act on; the CLI prints it and exits non-zero. */
export class AgentExit extends Error {
  override name = 'AgentExit';
  constructor(
    message: string,
    readonly code = 1,
    /** The control plane said no (a spent or revoked token): retrying the same cannot help. */
    readonly refused = false,
  ) {
    super(message);
  }
}

/** Asks the engine who it is; an unreachable engine ends `join` with a message saying where we looked. */
export async function describeThisNode(docker: Dockerode, config: AgentConfig, state: StateDir) {
  const keys = state.wireguardKeys();
  // Asked side by side: a tcp engine address costs a probe round trip, and /info is dockerd's slowest answer.
  const described = describeNode(docker, config, keys.publicKey);
  described.catch(() => undefined);
  if (await isControlPlane(config.dockerHost)) {
    throw new AgentExit(
      `${config.dockerHost} is a swarmlet control plane, not a Docker engine: the agent runs tasks on this host's own engine. ` +
        'Unset DOCKER_HOST for the agent (it is the docker CLI\'s) or pass --docker-host unix:///var/run/docker.sock',
    );
  }
  try {
    return await described;
  } catch (err) {
    throw new AgentExit(`cannot reach the Docker engine at ${config.dockerHost}: ${engineMessage(err)}; is dockerd running? (set --docker-host or DOCKER_HOST)`);
  }
}

/**
 * Exchanges a join token for a node credential and saves the node's identity. A host that joined
 * this cluster before presents its saved identity and stays the same node.
 */
export async function joinCluster(opts: {
  url: string;
  token: string;
  clusterId?: string;
  docker: Dockerode;
  config: AgentConfig;
  state: StateDir;
  log: Logger;
  /** A rejoin goes to whichever instance is in use (and on to the next); `url` stays the join URL kept. */
  instances?: ControlPlaneInstances;
}): Promise<NodeIdentity> {
  const { url, token, docker, config, state, log } = opts;
  // The engine and the control plane's certificate are read at the same time; the engine's error, if any, is the one told.
  const caPinned = pinnedCa(url, decodeJoinToken(token).ca, state.readCa());
  caPinned.catch(() => undefined);
  const node = await describeThisNode(docker, config, state);
  const saved = state.readIdentity();
  const previous = saved && (!opts.clusterId || saved.clusterId === opts.clusterId) ? saved : undefined;
  const ca = await caPinned;
  const client = new ControlPlaneClient(opts.instances ?? url, { ca });
  try {
    const res = await client.join({ token, node, ...(previous ? { credential: previous.credential } : {}) });
    const identity: NodeIdentity = {
      nodeId: res.nodeId,
      clusterId: res.clusterId,
      controlPlaneUrl: url,
      credential: res.credential,
      credentialExpiresAt: res.credentialExpiresAt,
      joinToken: token,
    };
    if (ca) state.saveCa(ca);
    state.saveIdentity(identity);
    log.info(previous?.nodeId === res.nodeId ? 'rejoined cluster' : 'joined cluster', {
      cluster: res.clusterId,
      node: res.nodeId,
      hostname: node.hostname,
      addr: node.addr,
      controlPlane: client.baseUrl,
    });
    return identity;
  } catch (err) {
    if (err instanceof ControlPlaneUnreachable) throw new AgentExit(`${err.message}; check the address in the token or pass host:port`);
    // Too many joins at once (429) passes: a rejoin waits and tries again rather than giving up.
    if (err instanceof ControlPlaneError) throw new AgentExit(`the control plane refused to join: ${err.message}`, 1, err.status !== 429);
    throw err;
  } finally {
    await client.close();
  }
}
