import { isObject } from '../json-guards.ts';
import { invalid } from '../errors.ts';
import { isNodeAttribute, parseConstraint } from '../scheduler/constraints.ts';
import type { ServiceSpec, TaskSpec } from './service-spec.ts';
import type { Mount } from '../../protocol/task-spec.ts';
import { CONTAINER_SPEC, checkShape, MOUNT_TYPES, SERVICE_SPEC, TASK_SPEC } from './spec-schema.ts';
import { withDockerKeys } from './spec-keys.ts';
import { expandTaskSpec } from './templates.ts';
import { refuseUnsupported } from './unsupported-spec.ts';

/** swarmkit's service name rule: `docker stack deploy` names services `<stack>_<service>`. */
const SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

type Path = string;
const MODES = ['Replicated', 'Global', 'ReplicatedJob', 'GlobalJob'];
/** "A or B", "A, B or C". */
const words = (list: string[]) => (list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : list.join(''));

function object(v: unknown, path: Path, required = false): Record<string, unknown> | undefined {
  if (v === undefined || v === null) {
    if (required) throw invalid(`${path} is required`);
    return undefined;
  }
  if (!isObject(v)) throw invalid(`${path} must be an object`);
  return v;
}

function count(v: unknown, path: Path, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw invalid(`${path} must be an integer between 0 and ${max}, got ${JSON.stringify(v)}`);
  }
}

function oneOf(v: unknown, path: Path, values: string[]): void {
  if (v === undefined || v === null || v === '') return;
  if (typeof v !== 'string' || !values.includes(v)) throw invalid(`${path} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
}

/** What dockerd refuses of a mount beyond its types (daemon/cluster/convert, volume/mounts validation). */
function checkMounts(mounts: Mount[] | undefined): void {
  (mounts ?? []).forEach((m, i) => {
    const what = `ContainerSpec.Mounts[${i}]`;
    if (!m.Type) throw invalid(`${what}.Type is required: one of ${MOUNT_TYPES.join(', ')}`);
    if (!m.Target) throw invalid(`invalid mount config for type "${m.Type}": field Target must not be empty (${what})`);
    if (m.Type === 'bind' && !m.Source) throw invalid(`invalid mount config for type "bind": field Source must not be empty (${what})`);
    if (m.Type === 'tmpfs' && m.Source) throw invalid(`invalid mount config for type "tmpfs": field Source must not be specified (${what})`);
  });
}

/**
 * Checks a posted ServiceSpec at the edge. The spec is then stored exactly as posted (unknown
 * fields included), so every field the CLI decodes into a typed Go field is type-checked
 * (spec-schema.ts), and those this control plane acts on also by their rules.
 */
export function validateServiceSpec(posted: Record<string, unknown>): ServiceSpec {
  const spec = withDockerKeys('ServiceSpec', posted);
  if (spec.Name !== undefined && spec.Name !== '') {
    if (typeof spec.Name !== 'string' || !SERVICE_NAME.test(spec.Name)) {
      throw invalid(`invalid service name ${JSON.stringify(spec.Name)}: name must be valid as a DNS name component (letters and digits, joined by '-' or '_')`);
    }
    if (spec.Name.length > 63) throw invalid(`invalid service name ${JSON.stringify(spec.Name)}: name must be 63 characters or fewer`);
  }
  checkShape(spec, SERVICE_SPEC, '');

  const template = object(spec.TaskTemplate, 'TaskTemplate', true)!;
  const container = object(template.ContainerSpec, 'TaskTemplate.ContainerSpec', true)!;
  if (typeof container.Image !== 'string' || container.Image.trim() === '') {
    throw invalid('ContainerSpec: image reference must be provided');
  }
  checkShape(container, CONTAINER_SPEC, 'ContainerSpec');
  checkShape(template, TASK_SPEC, 'TaskTemplate');
  checkMounts(container.Mounts as Mount[] | undefined);
  refuseUnsupported(template as TaskSpec);
  for (const c of (template as TaskSpec).Placement?.Constraints ?? []) {
    try {
      parseConstraint(c);
    } catch (err) {
      throw invalid((err as Error).message);
    }
  }

  // swarmkit's only preference is spread, over an attribute a constraint could name.
  ((template as TaskSpec).Placement?.Preferences as Array<{ Spread?: { SpreadDescriptor?: string } }> | undefined)?.forEach((p, i) => {
    const descriptor = p.Spread?.SpreadDescriptor;
    if (!descriptor || !isNodeAttribute(descriptor)) {
      throw invalid(`TaskTemplate.Placement.Preferences[${i}]: a spread preference needs a SpreadDescriptor such as node.labels.<label> or engine.labels.<label>, got ${JSON.stringify(descriptor ?? '')}`);
    }
  });

  const mode = object(spec.Mode, 'Mode');
  let replicated: Record<string, unknown> | undefined;
  let job = false;
  if (mode) {
    const kinds = Object.keys(mode).filter((k) => mode[k] !== undefined && mode[k] !== null);
    if (kinds.length !== 1 || !MODES.includes(kinds[0]!)) {
      throw invalid(`Mode must have exactly one of ${words(kinds.length > 1 && kinds.every((k) => MODES.includes(k)) ? kinds : MODES)}`);
    }
    object(mode.Global, 'Mode.Global');
    object(mode.GlobalJob, 'Mode.GlobalJob');
    replicated = object(mode.Replicated, 'Mode.Replicated');
    if (replicated) count(replicated.Replicas, 'Mode.Replicated.Replicas', 100_000);
    const replicatedJob = object(mode.ReplicatedJob, 'Mode.ReplicatedJob');
    if (replicatedJob) {
      count(replicatedJob.MaxConcurrent, 'Mode.ReplicatedJob.MaxConcurrent', 100_000);
      count(replicatedJob.TotalCompletions, 'Mode.ReplicatedJob.TotalCompletions', 100_000);
      // dockerd stores both counts (MaxConcurrent 1, TotalCompletions = MaxConcurrent when unset),
      // and the CLI reads both to show the job.
      const MaxConcurrent = replicatedJob.MaxConcurrent ?? 1;
      spec.Mode = { ...mode, ReplicatedJob: { ...replicatedJob, MaxConcurrent, TotalCompletions: replicatedJob.TotalCompletions ?? MaxConcurrent } };
    }
    job = kinds[0] === 'ReplicatedJob' || kinds[0] === 'GlobalJob';
  }
  // dockerd stores a service without a mode, or without a replica count, as one replica
  // (daemon/cluster/convert: ServiceSpecToGRPC), and the CLI needs the count to show the service.
  if (!mode?.Global && !job && replicated?.Replicas === undefined) spec.Mode = { ...mode, Replicated: { ...replicated, Replicas: 1 } };
  // swarmkit refuses it too: a job is never rolled out, each update runs it again.
  if (job && spec.UpdateConfig !== undefined && spec.UpdateConfig !== null) {
    throw invalid('UpdateConfig is not supported for jobs: an update runs the job again rather than rolling it out');
  }
  for (const key of ['UpdateConfig', 'RollbackConfig'] as const) {
    const u = object(spec[key], key);
    count(u?.Parallelism, `${key}.Parallelism`);
    count(u?.Monitor, `${key}.Monitor`);
    count(u?.Delay, `${key}.Delay`);
    if (u?.MaxFailureRatio !== undefined && (typeof u.MaxFailureRatio !== 'number' || u.MaxFailureRatio < 0 || u.MaxFailureRatio > 1)) {
      throw invalid(`${key}.MaxFailureRatio must be a number between 0 and 1`);
    }
    oneOf(u?.Order, `${key}.Order`, ['stop-first', 'start-first']);
    oneOf(u?.FailureAction, `${key}.FailureAction`, ['pause', 'continue', 'rollback']);
  }

  const endpoint = object(spec.EndpointSpec, 'EndpointSpec');
  oneOf(endpoint?.Mode, 'EndpointSpec.Mode', ['vip', 'dnsrr']);
  const ports = endpoint?.Ports;
  if (ports !== undefined && ports !== null) {
    if (!Array.isArray(ports)) throw invalid('EndpointSpec.Ports must be an array');
    const seen = new Set<string>();
    ports.forEach((p, i) => {
      const port = object(p, `EndpointSpec.Ports[${i}]`, true)!;
      if (port.TargetPort === undefined || port.TargetPort === 0) throw invalid(`EndpointSpec.Ports[${i}].TargetPort is required`);
      count(port.TargetPort, `EndpointSpec.Ports[${i}].TargetPort`, 65535);
      count(port.PublishedPort, `EndpointSpec.Ports[${i}].PublishedPort`, 65535);
      oneOf(port.Protocol, `EndpointSpec.Ports[${i}].Protocol`, ['tcp', 'udp', 'sctp']);
      oneOf(port.PublishMode, `EndpointSpec.Ports[${i}].PublishMode`, ['ingress', 'host']);
      // As swarmkit: the routing mesh balances over a virtual IP, which dnsrr does without.
      if (endpoint?.Mode === 'dnsrr' && (port.PublishMode ?? 'ingress') === 'ingress') {
        throw invalid("EndpointSpec: port published with ingress mode can't be used with dnsrr mode");
      }
      if (port.PublishedPort) {
        const key = `${port.Protocol ?? 'tcp'}/${port.PublishedPort}`;
        if (seen.has(key)) throw invalid(`published port ${key} is given twice`);
        seen.add(key);
      }
    });
  }
  // A template that could not be filled would fail every task of the service later: refuse it now.
  expandTaskSpec(template);
  return spec as ServiceSpec;
}
