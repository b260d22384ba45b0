/**
 * ServiceSpec fields Docker accepts but this control plane cannot honour. A spec naming one is
 * refused with the reason, rather than stored and silently not done (compose files reach these
 * through `docker stack deploy`; the README's Stacks section lists the compose keys behind them).
 */
import { invalid } from '../errors.ts';
import type { TaskSpec } from './service-spec.ts';

interface Unsupported {
  /** The field as a user's error names it. */
  field: string;
  /** Whether the task spec sets it to something other than its default. */
  isSet(task: TaskSpec): boolean;
  why: string;
}

const nonEmpty = (v: unknown) => Array.isArray(v) && v.length > 0;
const someValue = (v: unknown) => v !== null && typeof v === 'object' && Object.values(v).some((x) => x !== undefined && x !== null && x !== '');

const UNSUPPORTED: Unsupported[] = [
  {
    field: 'TaskTemplate.Resources.Reservations.GenericResources',
    isSet: (t) => nonEmpty(t.Resources?.Reservations?.GenericResources),
    why: 'generic resources (compose generic_resources, --generic-resource) are not supported: nodes advertise none',
  },
  {
    field: 'ContainerSpec.Privileges.CredentialSpec',
    isSet: (t) => someValue(t.ContainerSpec?.Privileges?.CredentialSpec),
    why: 'credential specs (compose credential_spec) are for Windows containers, which this cluster does not run',
  },
  {
    field: 'ContainerSpec.Isolation',
    isSet: (t) => !['', 'default', undefined, null].includes(t.ContainerSpec?.Isolation as string | undefined),
    why: 'isolation other than default (compose isolation) is for Windows containers, which this cluster does not run',
  },
  {
    field: 'ContainerSpec.Mounts',
    isSet: (t) => (t.ContainerSpec?.Mounts ?? []).some((m) => m.Type === 'npipe' || m.Type === 'cluster'),
    why: 'mounts of type npipe (Windows) and cluster (CSI volumes) are not supported; use bind, volume or tmpfs',
  },
];

/** Throws a 400 naming the first field of the task spec this control plane cannot honour. */
export function refuseUnsupported(task: TaskSpec): void {
  const found = UNSUPPORTED.find((u) => u.isSet(task));
  if (found) throw invalid(`${found.field}: ${found.why}`);
}
