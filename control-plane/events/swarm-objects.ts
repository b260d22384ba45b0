/** The events of swarm objects' changes, with the attributes dockerd gives them. */
import type { NodeRow, ServiceRow } from '../orchestrator/cluster-state.ts';
import type { UpdateStatus } from '../db/schema/index.ts';
import { isGlobal, replicasOf, type ServiceSpec } from '../swarm/service-spec.ts';
import { changed, type SwarmEvent } from './record.ts';

/** A node's name in events and messages: its spec's name, else the hostname its agent reported (as dockerd). */
export const nodeName = (n: Pick<NodeRow, 'spec' | 'hostname'>) => n.spec.Name || n.hostname;

/** dockerd's service update event: the name, and the image, replica count and update state when they changed. */
export function serviceUpdated(before: ServiceRow, spec: ServiceSpec, updateStatus: UpdateStatus | null): SwarmEvent {
  const image = (s: ServiceSpec) => s.TaskTemplate.ContainerSpec?.Image;
  const replicas = (s: ServiceSpec) => (isGlobal(s) ? undefined : replicasOf(s));
  return {
    type: 'service',
    action: 'update',
    actorId: before.id,
    attributes: {
      name: before.name,
      ...changed('image', image(before.spec), image(spec)),
      ...changed('replicas', replicas(before.spec), replicas(spec)),
      ...changed('updatestate', before.updateStatus?.State, updateStatus?.State),
    },
  };
}


/** dockerd's node update event for a change of state (a node marked down, or back). */
export function nodeStateChanged(node: Pick<NodeRow, 'id' | 'spec' | 'hostname'>, before: string, after: string): SwarmEvent {
  return { type: 'node', action: 'update', actorId: node.id, attributes: { name: nodeName(node), ...changed('state', before, after) } };
}
