import type { NetworkRow, NodeSpec } from '../db/schema/index.ts';
import type { Cluster } from '../swarm/clusters.ts';
import type { ServiceSpec } from '../swarm/service-spec.ts';
import { decodable, ENDPOINT_SPEC, STORED_SERVICE_SPEC, TASK_TEMPLATE } from '../swarm/spec-schema.ts';
import type { NodeRow, ServiceRow, TaskRow } from '../orchestrator/cluster-state.ts';

/** Docker timestamps are RFC 3339; the CLI parses millisecond precision fine. */
export const iso = (ms: number) => new Date(ms).toISOString();

export const ENGINE_VERSION = '20.10.24-swarmlet';

/** The fields every swarm object starts with; Version.Index is the change index of its last write. */
export function objectMeta(o: { id: string; version: number; createdAt: number; updatedAt: number }) {
  return { ID: o.id, Version: { Index: o.version }, CreatedAt: iso(o.createdAt), UpdatedAt: iso(o.updatedAt) };
}

export function toDockerNode(n: NodeRow) {
  return {
    ...objectMeta(n),
    Spec: n.spec,
    Description: {
      Hostname: n.hostname,
      Platform: { Architecture: n.description.arch, OS: n.description.os },
      Resources: { NanoCPUs: n.description.nanoCpus, MemoryBytes: n.description.memoryBytes },
      Engine: { EngineVersion: n.description.engineVersion, Labels: n.description.engineLabels ?? {} },
    },
    Status: { State: n.state, Message: n.stateMessage || undefined, Addr: n.description.addr },
  };
}

const MANAGER_SPEC: NodeSpec = { Labels: {}, Role: 'manager', Availability: 'drain' };

/**
 * The control plane itself, shown as the swarm's one manager so `docker node ls` and
 * `docker swarm join-token` make sense. It runs no tasks: its availability is drain.
 */
export function toManagerNode(cluster: Cluster, addr: string, leaderHost: string) {
  const host = addr.replace(/:\d+$/, '');
  return {
    ...objectMeta({ ...cluster, id: cluster.managerNodeId }),
    Spec: MANAGER_SPEC,
    Description: {
      Hostname: 'control-plane',
      Platform: { Architecture: 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: 0, MemoryBytes: 0 },
      Engine: { EngineVersion: ENGINE_VERSION, Labels: { 'swarmlet.leader': leaderHost } },
    },
    Status: { State: 'ready', Addr: host },
    ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: addr },
  };
}

/**
 * Specs are shown through decodable(): the CLI decodes a whole list at once, so one spec stored
 * with a field of the wrong type (before validation checked it) would fail `docker service ls`
 * for every service; that field is left out of the view instead.
 */
export function toDockerService(s: ServiceRow, spec: ServiceSpec, status?: { running: number; desired: number; completed: number }) {
  return {
    ...objectMeta(s),
    Spec: decodable(spec, STORED_SERVICE_SPEC),
    ...(s.previousSpec ? { PreviousSpec: decodable(s.previousSpec, STORED_SERVICE_SPEC) } : {}),
    Endpoint: {
      Spec: decodable(s.spec.EndpointSpec, ENDPOINT_SPEC) ?? { Mode: 'vip' },
      ...(s.endpointPorts.length ? { Ports: s.endpointPorts } : {}),
      ...(s.virtualIps.length ? { VirtualIPs: s.virtualIps } : {}),
    },
    ...(s.updateStatus ? { UpdateStatus: s.updateStatus } : {}),
    ...(s.jobStatus ? { JobStatus: s.jobStatus } : {}),
    ...(status ? { ServiceStatus: { RunningTasks: status.running, DesiredTasks: status.desired, CompletedTasks: status.completed } } : {}),
  };
}

/**
 * The desired state dockerd shows: a job's task is desired complete (swarmkit's Completed) while it
 * is to run and once it has completed. It is stored as running, which is what its agent runs, and
 * as shutdown once completed, so that its container is removed.
 */
export function dockerDesiredState(t: Pick<TaskRow, 'jobIteration' | 'desiredState' | 'state'>): string {
  if (t.jobIteration === null) return t.desiredState;
  return t.desiredState === 'running' || t.desiredState === 'ready' || t.state === 'complete' ? 'complete' : t.desiredState;
}

/** A network as swarm objects show it (swarm.Network: what a task's NetworksAttachments carry). */
export function toSwarmNetwork(n: NetworkRow) {
  const ipam = { Driver: { Name: 'default' }, Configs: [{ Subnet: n.subnet, Gateway: n.gateway }] };
  return {
    ...objectMeta(n),
    Spec: {
      Name: n.name,
      Labels: n.labels,
      DriverConfiguration: { Name: 'overlay', Options: n.options },
      Scope: 'swarm',
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: n.ingress,
      IPAMOptions: ipam,
    },
    DriverState: { Name: 'overlay', Options: n.options },
    IPAMOptions: ipam,
  };
}

export function toDockerTask(t: TaskRow, serviceLabels: Record<string, string> | undefined, networks: ReadonlyMap<string, NetworkRow>) {
  const attachments = (t.networks ?? []).flatMap((a) => {
    const network = networks.get(a.networkId);
    return network ? [{ Network: toSwarmNetwork(network), Addresses: [a.address] }] : [];
  });
  return {
    ...objectMeta(t),
    Labels: decodable(serviceLabels, { values: 'string' }) ?? {},
    Spec: decodable(t.spec, TASK_TEMPLATE),
    ServiceID: t.serviceId,
    Slot: t.slot,
    ...(t.nodeId ? { NodeID: t.nodeId } : {}),
    Status: {
      Timestamp: iso(t.statusAt),
      State: t.state,
      Message: t.message,
      ...(t.err ? { Err: t.err } : {}),
      ContainerStatus: t.containerStatus ?? {},
      PortStatus: t.portStatus ?? {},
    },
    DesiredState: dockerDesiredState(t),
    ...(t.jobIteration !== null ? { JobIteration: { Index: t.jobIteration } } : {}),
    ...(attachments.length ? { NetworksAttachments: attachments } : {}),
  };
}
