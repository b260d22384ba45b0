/**
 * The Go types of a ServiceSpec's fields (Engine API definitions ServiceSpec, TaskSpec,
 * ContainerSpec, Mount, HealthConfig…; v1.47, a superset of what older clients send). Specs are
 * stored and served exactly as posted, and the docker CLI decodes every service of a list into
 * these types: one field of the wrong type anywhere would make `docker service ls` fail for the
 * whole cluster. So each field is checked against its type at the edge; unknown fields are kept
 * unchecked, since Go's decoder ignores them too.
 */
import { isObject } from '../json-guards.ts';
import { invalid } from '../errors.ts';

export type Shape =
  | 'string'
  | 'boolean'
  /** Go's int64. */
  | 'int'
  /** Go's uint64 (and the durations and counts the control plane refuses below zero). */
  | 'uint'
  /** Go's uint32: file modes. */
  | 'uint32'
  /** Go's float64. */
  | 'number'
  | { enum: readonly string[] }
  /** A struct: the fields listed are checked, others kept as they came. */
  | { fields: Record<string, Shape> }
  | { items: Shape }
  /** map[string]T */
  | { values: Shape };

const INT_RANGE: Record<'int' | 'uint' | 'uint32', [number, number]> = { int: [-(2 ** 63), 2 ** 63 - 1], uint: [0, 2 ** 64 - 1], uint32: [0, 2 ** 32 - 1] };
const INT_WORDS = { int: 'an integer', uint: 'an integer of 0 or more', uint32: 'an integer from 0 to 4294967295' };

function isInteger(value: unknown, shape: 'int' | 'uint' | 'uint32'): boolean {
  const [min, max] = INT_RANGE[shape];
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** Throws a 400 naming the first field whose value does not fit its shape; null stands for "unset", as in Go. An empty path names top-level fields bare. */
export function checkShape(value: unknown, shape: Shape, path: string): void {
  if (value === undefined || value === null) return;
  if (shape === 'string' || shape === 'boolean' || shape === 'number') {
    if (typeof value !== shape) throw invalid(`${path} must be a ${shape}`);
  } else if (shape === 'int' || shape === 'uint' || shape === 'uint32') {
    if (!isInteger(value, shape)) throw invalid(`${path} must be ${INT_WORDS[shape]}, got ${JSON.stringify(value)}`);
  } else if ('enum' in shape) {
    if (typeof value !== 'string' || !shape.enum.includes(value)) {
      throw invalid(`${path} must be one of ${shape.enum.filter(Boolean).join(', ')}, got ${JSON.stringify(value)}`);
    }
  } else if ('items' in shape) {
    if (shape.items === 'string') {
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) throw invalid(`${path} must be an array of strings`);
      return;
    }
    if (!Array.isArray(value)) throw invalid(`${path} must be an array`);
    value.forEach((item, i) => checkShape(item, shape.items, `${path}[${i}]`));
  } else if ('values' in shape) {
    if (!isObject(value)) throw invalid(`${path} must be an object`);
    if (shape.values === 'string') {
      if (!Object.values(value).every((x) => typeof x === 'string')) throw invalid(`${path} must map strings to strings`);
      return;
    }
    for (const [key, v] of Object.entries(value)) checkShape(v, shape.values, `${path}[${JSON.stringify(key)}]`);
  } else {
    if (!isObject(value)) throw invalid(`${path} must be an object`);
    for (const [key, fieldShape] of Object.entries(shape.fields)) checkShape(value[key], fieldShape, path ? `${path}.${key}` : key);
  }
}

/**
 * The value with every part that does not fit its shape left out, so what Go cannot decode never
 * reaches a client: the views' defence against a spec stored before a check existed. A value that
 * fits comes back equal, its keys in their order. An enum takes any string, as Go's decoder does.
 */
export function decodable(value: unknown, shape: Shape): unknown {
  if (value === undefined || value === null) return value;
  if (typeof shape === 'string') {
    if (shape === 'string' || shape === 'boolean' || shape === 'number') return typeof value === shape ? value : undefined;
    return isInteger(value, shape) ? value : undefined;
  }
  if ('enum' in shape) return typeof value === 'string' ? value : undefined;
  if ('items' in shape) {
    if (!Array.isArray(value)) return undefined;
    return value.map((item) => decodable(item, shape.items)).filter((item) => item !== undefined);
  }
  if (!isObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const fieldShape = 'values' in shape ? shape.values : shape.fields[key];
    const kept = fieldShape ? decodable(v, fieldShape) : v;
    if (kept !== undefined) out[key] = kept;
  }
  return out;
}

const strings: Shape = { items: 'string' };
const labels: Shape = { values: 'string' };
/** Durations are int64 nanoseconds; none of those below makes sense negative. */
const duration: Shape = 'uint';
const fileTarget: Shape = { fields: { Name: 'string', UID: 'string', GID: 'string', Mode: 'uint32' } };

export const MOUNT_TYPES = ['bind', 'volume', 'tmpfs', 'npipe', 'cluster'] as const;

export const MOUNT: Shape = {
  fields: {
    Target: 'string',
    Source: 'string',
    Type: { enum: MOUNT_TYPES },
    ReadOnly: 'boolean',
    // dockerd ignores a consistency it does not know.
    Consistency: 'string',
    BindOptions: {
      fields: {
        Propagation: { enum: ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', ''] },
        NonRecursive: 'boolean',
        CreateMountpoint: 'boolean',
        ReadOnlyNonRecursive: 'boolean',
        ReadOnlyForceRecursive: 'boolean',
      },
    },
    VolumeOptions: { fields: { NoCopy: 'boolean', Labels: labels, DriverConfig: { fields: { Name: 'string', Options: labels } }, Subpath: 'string' } },
    TmpfsOptions: { fields: { SizeBytes: 'int', Mode: 'uint32', Options: { items: strings } } },
  },
};

export const CONTAINER_SPEC: Shape = {
  fields: {
    Image: 'string',
    Labels: labels,
    Command: strings,
    Args: strings,
    Hostname: 'string',
    Env: strings,
    Dir: 'string',
    User: 'string',
    Groups: strings,
    Privileges: {
      fields: {
        CredentialSpec: { fields: { Config: 'string', File: 'string', Registry: 'string' } },
        SELinuxContext: { fields: { Disable: 'boolean', User: 'string', Role: 'string', Type: 'string', Level: 'string' } },
        Seccomp: { fields: { Mode: { enum: ['default', 'unconfined', 'custom', ''] }, Profile: 'string' } },
        AppArmor: { fields: { Mode: { enum: ['default', 'disabled', ''] } } },
        NoNewPrivileges: 'boolean',
      },
    },
    TTY: 'boolean',
    OpenStdin: 'boolean',
    ReadOnly: 'boolean',
    Mounts: { items: MOUNT },
    StopSignal: 'string',
    StopGracePeriod: duration,
    Healthcheck: { fields: { Test: strings, Interval: duration, Timeout: duration, StartPeriod: duration, StartInterval: duration, Retries: 'uint' } },
    Hosts: strings,
    DNSConfig: { fields: { Nameservers: strings, Search: strings, Options: strings } },
    // Checked against the cluster's secrets and configs by swarm/payloads.ts.
    Secrets: { items: { fields: { File: fileTarget, SecretID: 'string', SecretName: 'string' } } },
    Configs: { items: { fields: { File: fileTarget, Runtime: { fields: {} }, ConfigID: 'string', ConfigName: 'string' } } },
    OomScoreAdj: 'int',
    Isolation: { enum: ['default', 'process', 'hyperv', ''] },
    Init: 'boolean',
    Sysctls: labels,
    CapabilityAdd: strings,
    CapabilityDrop: strings,
    Ulimits: { items: { fields: { Name: 'string', Soft: 'int', Hard: 'int' } } },
  },
};

const resources = (extra: Record<string, Shape>): Shape => ({ fields: { NanoCPUs: 'uint', MemoryBytes: 'uint', ...extra } });
const genericResources: Shape = {
  items: { fields: { NamedResourceSpec: { fields: { Kind: 'string', Value: 'string' } }, DiscreteResourceSpec: { fields: { Kind: 'string', Value: 'int' } } } },
};
const networkAttachment: Shape = { fields: { Target: 'string', Aliases: strings, DriverOpts: labels } };

/** TaskSpec without its ContainerSpec, which is checked under its own name (errors say `ContainerSpec.Env`). */
export const TASK_SPEC = {
  fields: {
    PluginSpec: { fields: { Name: 'string', Remote: 'string', Disabled: 'boolean', PluginPrivilege: { items: { fields: { Name: 'string', Description: 'string', Value: strings } } } } },
    NetworkAttachmentSpec: { fields: { ContainerID: 'string' } },
    Resources: { fields: { Limits: resources({ Pids: 'int' }), Reservations: resources({ GenericResources: genericResources }) } },
    RestartPolicy: { fields: { Condition: { enum: ['none', 'on-failure', 'any'] }, Delay: duration, MaxAttempts: 'uint', Window: duration } },
    Placement: {
      fields: {
        Constraints: strings,
        Preferences: { items: { fields: { Spread: { fields: { SpreadDescriptor: 'string' } } } } },
        MaxReplicas: 'uint',
        Platforms: { items: { fields: { Architecture: 'string', OS: 'string' } } },
      },
    },
    ForceUpdate: 'uint',
    Runtime: 'string',
    Networks: { items: networkAttachment },
    LogDriver: { fields: { Name: 'string', Options: labels } },
  },
} satisfies Shape;

/** The ServiceSpec fields outside Name, the task template, Mode, UpdateConfig and EndpointSpec (checked with their own rules). */
export const SERVICE_SPEC: Shape = { fields: { Labels: labels, Networks: { items: networkAttachment } } };

/** The whole TaskSpec, as tasks carry it. */
export const TASK_TEMPLATE: Shape = { fields: { ...TASK_SPEC.fields, ContainerSpec: CONTAINER_SPEC } };

// Enums are plain strings to Go's decoder, so these name them 'string'.
export const ENDPOINT_SPEC: Shape = {
  fields: { Mode: 'string', Ports: { items: { fields: { Name: 'string', Protocol: 'string', TargetPort: 'uint32', PublishedPort: 'uint32', PublishMode: 'string' } } } },
};

const updateConfig: Shape = {
  fields: { Parallelism: 'uint', Delay: 'int', FailureAction: 'string', Monitor: 'int', MaxFailureRatio: 'number', Order: 'string' },
};

/** The whole ServiceSpec, for the views (validateServiceSpec checks Mode, UpdateConfig and EndpointSpec by their own rules). */
export const STORED_SERVICE_SPEC: Shape = {
  fields: {
    Name: 'string',
    Labels: labels,
    TaskTemplate: TASK_TEMPLATE,
    Mode: {
      fields: {
        Replicated: { fields: { Replicas: 'uint' } },
        Global: { fields: {} },
        ReplicatedJob: { fields: { MaxConcurrent: 'uint', TotalCompletions: 'uint' } },
        GlobalJob: { fields: {} },
      },
    },
    UpdateConfig: updateConfig,
    RollbackConfig: updateConfig,
    Networks: { items: networkAttachment },
    EndpointSpec: ENDPOINT_SPEC,
  },
};
