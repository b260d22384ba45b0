import { conflict } from '../errors.ts';
import { type PortConfig, portsOf, type ServiceSpec } from './service-spec.ts';

const RANGE = { first: 30000, last: 32767 }; // Docker's dynamic ingress range

const key = (p: PortConfig) => `${p.Protocol}/${p.PublishedPort}`;

/** Whether a service publishes ingress ports: every node's routing mesh then balances over its running tasks. */
export const publishesIngress = (s: { endpointPorts: PortConfig[] }) => s.endpointPorts.some((p) => p.PublishMode === 'ingress');

/**
 * The ports a service publishes (its `Endpoint.Ports`): each ingress port is unique in the cluster,
 * since every node's routing mesh listens on it; one asked for as 0 gets a free port from Docker's
 * range, and keeps it across updates.
 */
export function allocateEndpointPorts(
  spec: ServiceSpec,
  taken: Map<string, string>, // "tcp/8080" -> name of the service holding it
  previous: PortConfig[],
): PortConfig[] {
  const result: PortConfig[] = [];
  for (const port of portsOf(spec)) {
    if (port.PublishMode === 'host') {
      result.push(port);
      continue;
    }
    if (port.PublishedPort === 0) {
      const kept = previous.find((p) => p.TargetPort === port.TargetPort && p.Protocol === port.Protocol && p.PublishMode === 'ingress');
      port.PublishedPort = kept?.PublishedPort ?? 0;
      for (let candidate = RANGE.first; port.PublishedPort === 0 && candidate <= RANGE.last; candidate++) {
        if (!taken.has(`${port.Protocol}/${candidate}`)) port.PublishedPort = candidate;
      }
      if (port.PublishedPort === 0) throw conflict('no free ingress port left in 30000-32767');
    }
    const holder = taken.get(key(port));
    if (holder) throw conflict(`port ${port.PublishedPort}/${port.Protocol} is already published by service ${holder}`);
    taken.set(key(port), spec.Name);
    result.push(port);
  }
  return result;
}
