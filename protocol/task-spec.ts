/**
 * Docker's TaskSpec and PortConfig, the parts of a service spec that travel to agents, in the
 * Engine API's shape (definitions TaskSpec, ContainerSpec, EndpointPortConfig). The fields the
 * project reads are typed; the index signatures keep every other field a client posted, so a spec
 * is returned exactly as it came.
 */

/** Docker durations are nanoseconds. */
export type Nanoseconds = number;

export interface HealthConfig {
  Test?: string[];
  Interval?: Nanoseconds;
  Timeout?: Nanoseconds;
  StartPeriod?: Nanoseconds;
  StartInterval?: Nanoseconds;
  Retries?: number;
  [field: string]: unknown;
}

export interface Mount {
  Target?: string;
  Source?: string;
  Type?: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster';
  ReadOnly?: boolean;
  Consistency?: string;
  [field: string]: unknown;
}

export interface Ulimit {
  Name?: string;
  Soft?: number;
  Hard?: number;
}

export interface DNSConfig {
  Nameservers?: string[];
  Search?: string[];
  Options?: string[];
}

/** What the engine's SecurityOpt carries for a swarm task (dockerd's executor: container.go). */
export interface Privileges {
  NoNewPrivileges?: boolean;
  Seccomp?: { Mode?: 'default' | 'unconfined' | 'custom' | ''; Profile?: string };
  AppArmor?: { Mode?: 'default' | 'disabled' | '' };
  SELinuxContext?: { Disable?: boolean; User?: string; Role?: string; Type?: string; Level?: string } | null;
  CredentialSpec?: Record<string, unknown> | null;
}

/** Where a secret or config appears in the container, and as whom. */
export interface FileTarget {
  Name: string;
  UID?: string;
  GID?: string;
  Mode?: number;
}

export interface SecretReference {
  File?: FileTarget;
  SecretID: string;
  SecretName: string;
}

export interface ConfigReference {
  File?: FileTarget;
  /** A config for the runtime itself (credential specs); given no file. */
  Runtime?: Record<string, never>;
  ConfigID: string;
  ConfigName: string;
}

export interface ContainerSpec {
  Image?: string;
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Groups?: string[];
  TTY?: boolean;
  OpenStdin?: boolean;
  ReadOnly?: boolean;
  Mounts?: Mount[];
  StopSignal?: string;
  StopGracePeriod?: Nanoseconds;
  Healthcheck?: HealthConfig;
  /** Swarm's `IP host...` lines. */
  Hosts?: string[];
  DNSConfig?: DNSConfig;
  Init?: boolean | null;
  Sysctls?: Record<string, string>;
  CapabilityAdd?: string[];
  CapabilityDrop?: string[];
  Ulimits?: Ulimit[];
  OomScoreAdj?: number;
  Privileges?: Privileges;
  Secrets?: SecretReference[];
  Configs?: ConfigReference[];
  [field: string]: unknown;
}

export interface ResourceAmounts {
  NanoCPUs?: number;
  MemoryBytes?: number;
  Pids?: number;
  [field: string]: unknown;
}

export interface RestartPolicySpec {
  Condition?: 'none' | 'on-failure' | 'any';
  Delay?: Nanoseconds;
  MaxAttempts?: number;
  Window?: Nanoseconds;
}

export interface Placement {
  Constraints?: string[];
  MaxReplicas?: number;
  [field: string]: unknown;
}

export interface TaskSpec {
  ContainerSpec?: ContainerSpec;
  Resources?: { Limits?: ResourceAmounts; Reservations?: ResourceAmounts };
  RestartPolicy?: RestartPolicySpec;
  Placement?: Placement;
  ForceUpdate?: number;
  Runtime?: string;
  Networks?: Array<{ Target?: string; Aliases?: string[]; [field: string]: unknown }>;
  LogDriver?: { Name?: string; Options?: Record<string, string> };
  [field: string]: unknown;
}

/** A published port (EndpointPortConfig), with Docker's defaults filled in. */
export interface PortConfig {
  Name?: string;
  Protocol: 'tcp' | 'udp' | 'sctp';
  TargetPort: number;
  PublishedPort: number;
  PublishMode: 'ingress' | 'host';
}
