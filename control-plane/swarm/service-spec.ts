/**
 * Docker's ServiceSpec and the helpers that read it: the spec is stored whole, exactly as posted
 * (the index signatures keep the fields nothing here reads), and these helpers read the parts
 * orchestration needs, with Docker's defaults applied.
 */
import type { Nanoseconds, PortConfig, TaskSpec } from '../../protocol/task-spec.ts';

export type { PortConfig, TaskSpec };

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: Nanoseconds;
  FailureAction?: 'pause' | 'continue' | 'rollback';
  Monitor?: Nanoseconds;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

export interface ServiceMode {
  Replicated?: { Replicas?: number };
  Global?: Record<string, never>;
  /** Runs MaxConcurrent tasks at a time until TotalCompletions have exited 0. */
  ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number };
  /** Runs one task to completion on each eligible node. */
  GlobalJob?: Record<string, never>;
  [mode: string]: unknown;
}

export interface EndpointSpec {
  Mode?: 'vip' | 'dnsrr';
  Ports?: Array<Partial<PortConfig>>;
}

export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: TaskSpec;
  Mode?: ServiceMode;
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: EndpointSpec;
  [field: string]: unknown;
}

const SECOND = 1_000_000_000; // Docker durations are nanoseconds

export function isGlobal(spec: ServiceSpec): boolean {
  return spec.Mode?.Global !== undefined;
}

export function replicasOf(spec: ServiceSpec): number {
  return isGlobal(spec) ? 0 : Number(spec.Mode?.Replicated?.Replicas ?? 1);
}

/** Job modes run their tasks to completion, once per job iteration, instead of keeping them running. */
export function isJob(spec: ServiceSpec): boolean {
  return spec.Mode?.ReplicatedJob != null || spec.Mode?.GlobalJob != null;
}

/** Global services and global jobs have a slot per eligible node rather than numbered replicas. */
export function onePerNode(spec: ServiceSpec): boolean {
  return isGlobal(spec) || spec.Mode?.GlobalJob != null;
}

export type ModeName = 'replicated' | 'global' | 'replicated-job' | 'global-job';

/** The mode by the names `docker service create --mode` takes. */
export function modeNameOf(spec: ServiceSpec): ModeName {
  if (spec.Mode?.ReplicatedJob != null) return 'replicated-job';
  if (spec.Mode?.GlobalJob != null) return 'global-job';
  return isGlobal(spec) ? 'global' : 'replicated';
}

export interface ReplicatedJob {
  maxConcurrent: number;
  totalCompletions: number;
}

/** A replicated job's counts, with dockerd's defaults: MaxConcurrent 1, TotalCompletions equal to MaxConcurrent. */
export function replicatedJobOf(spec: ServiceSpec): ReplicatedJob | undefined {
  const job = spec.Mode?.ReplicatedJob;
  if (job == null) return undefined;
  const maxConcurrent = Number(job.MaxConcurrent ?? 1);
  return { maxConcurrent, totalCompletions: Number(job.TotalCompletions ?? maxConcurrent) };
}

export interface RestartPolicy {
  condition: 'none' | 'on-failure' | 'any';
  delayMs: number;
  maxAttempts: number;
  windowMs: number;
}

export function restartPolicyOf(spec: ServiceSpec): RestartPolicy {
  const p = spec.TaskTemplate?.RestartPolicy ?? {};
  const condition = p.Condition ?? 'any';
  return {
    // A job's task that completed is done whatever the policy says (swarmkit's shouldRestart).
    condition: condition === 'any' && isJob(spec) ? 'on-failure' : condition,
    delayMs: (p.Delay ?? 5 * SECOND) / 1e6,
    maxAttempts: p.MaxAttempts ?? 0,
    windowMs: (p.Window ?? 0) / 1e6,
  };
}

export function updateParallelismOf(spec: ServiceSpec, rollback = false): number {
  const cfg = (rollback ? spec.RollbackConfig : spec.UpdateConfig) ?? {};
  return cfg.Parallelism ?? 1;
}

/** How long an update watches its last new tasks before it counts as completed (Docker: 5 s). */
export function updateMonitorMsOf(spec: ServiceSpec, rollback = false): number {
  const cfg = (rollback ? spec.RollbackConfig : spec.UpdateConfig) ?? {};
  return (cfg.Monitor ?? 5 * SECOND) / 1e6;
}

export interface FailurePolicy {
  action: 'pause' | 'continue' | 'rollback';
  /** Fraction of the service's tasks that may fail during an update before the action is taken. */
  maxFailureRatio: number;
}

/** What an update (or rollback) does when its new tasks fail; Docker's default is to pause. */
export function failurePolicyOf(spec: ServiceSpec, rollback = false): FailurePolicy {
  const cfg = (rollback ? spec.RollbackConfig : spec.UpdateConfig) ?? {};
  const action = cfg.FailureAction === 'continue' || cfg.FailureAction === 'rollback' ? cfg.FailureAction : 'pause';
  return { action, maxFailureRatio: Number(cfg.MaxFailureRatio ?? 0) };
}

/** stop-first (Docker's default) stops a slot's old task before its new one starts; start-first overlaps them. */
export function updateOrderOf(spec: ServiceSpec, rollback = false): 'stop-first' | 'start-first' {
  const cfg = (rollback ? spec.RollbackConfig : spec.UpdateConfig) ?? {};
  return cfg.Order === 'start-first' ? 'start-first' : 'stop-first';
}

export interface Reservations {
  nanoCpus: number;
  memoryBytes: number;
}

export function reservationsOf(taskSpec: TaskSpec): Reservations {
  const r = taskSpec.Resources?.Reservations ?? {};
  return { nanoCpus: r.NanoCPUs ?? 0, memoryBytes: r.MemoryBytes ?? 0 };
}

export function constraintsOf(taskSpec: TaskSpec): string[] {
  return taskSpec.Placement?.Constraints ?? [];
}

/** The placement preferences' SpreadDescriptors, outermost first (swarmkit knows no other kind). */
export function spreadOf(taskSpec: TaskSpec): string[] {
  const preferences = (taskSpec.Placement?.Preferences ?? []) as Array<{ Spread?: { SpreadDescriptor?: string } }>;
  return preferences.map((p) => p.Spread?.SpreadDescriptor).filter((d): d is string => typeof d === 'string' && d !== '');
}

export function maxReplicasOf(taskSpec: TaskSpec): number {
  return taskSpec.Placement?.MaxReplicas ?? 0;
}

export function portsOf(spec: ServiceSpec): PortConfig[] {
  return (spec.EndpointSpec?.Ports ?? []).map((p) => ({
    ...p,
    Protocol: p.Protocol ?? 'tcp',
    TargetPort: p.TargetPort ?? 0,
    PublishedPort: p.PublishedPort ?? 0,
    PublishMode: p.PublishMode ?? 'ingress',
  }));
}

/** Host-mode ports a service's task holds on its node ("tcp/8080"); the scheduler keeps them unique per host. */
export function hostPortsOf(spec: ServiceSpec): string[] {
  return portsOf(spec)
    .filter((p) => p.PublishMode === 'host' && p.PublishedPort > 0)
    .map((p) => `${p.Protocol}/${p.PublishedPort}`);
}

/** Deterministic JSON: object keys sorted, so equal specs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * 64-bit FNV-1a over the task template, host ports and whether the tasks are on the ingress network:
 * a task whose hash differs from its service's is out of date (publishing a first ingress port
 * replaces the tasks, as dockerd does, so each gets its routing-mesh address).
 */
export function specHashOf(spec: ServiceSpec): string {
  const ingress = portsOf(spec).some((p) => p.PublishMode === 'ingress') || undefined;
  const text = canonicalJson({ task: spec.TaskTemplate ?? {}, hostPorts: hostPortsOf(spec), ingress });
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x0100019d);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** The defaults `GET /services/{id}?insertDefaults=true` fills in, as dockerd does. */
export function withDefaults(spec: ServiceSpec): ServiceSpec {
  const updateDefaults: UpdateConfig = { Parallelism: 1, FailureAction: 'pause', Monitor: 5 * SECOND, MaxFailureRatio: 0, Order: 'stop-first' };
  return {
    ...spec,
    TaskTemplate: {
      ...spec.TaskTemplate,
      ContainerSpec: { StopGracePeriod: 10 * SECOND, ...spec.TaskTemplate?.ContainerSpec },
      RestartPolicy: { Condition: 'any', Delay: 5 * SECOND, MaxAttempts: 0, ...spec.TaskTemplate?.RestartPolicy },
    },
    UpdateConfig: { ...updateDefaults, ...spec.UpdateConfig },
    RollbackConfig: { ...updateDefaults, ...spec.RollbackConfig },
  };
}
