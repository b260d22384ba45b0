/** The control plane's one configuration object, read once from the environment at start. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  libsqlUrl: string;
  libsqlAuthToken: string | undefined;
  /** URL agents and tokens use to reach this control plane; derived from host and port when unset. */
  publicUrl: string | undefined;
  /** `iss` of every token this control plane signs and the only one it accepts. */
  issuer: string;
  /** Identifies this process as a lease holder. */
  instanceId: string;
  lease: { ttlMs: number; renewMs: number; retryMs: number };
  heartbeat: { periodMs: number; misses: number };
  joinTokenTtlMs: number;
  nodeCredentialTtlMs: number;
  longPollMaxWaitMs: number;
  bodyLimitBytes: number;
  /** Bearer token of the admin (tenant) API; the admin API is closed when unset. */
  adminToken: string | undefined;
  /** Task history kept per slot (Docker's TaskHistoryRetentionLimit). */
  taskHistoryPerSlot: number;
  /** How long agents' status reports are gathered into one transaction; 0 = one per request (Workers). */
  statusBatchMs: number;
}

type Env = Record<string, string | undefined>;

function intFrom(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = env.DATA_DIR || './data';
  const heartbeatPeriodMs = intFrom(env, 'HEARTBEAT_PERIOD_MS', 5_000);
  return {
    port: intFrom(env, 'PORT', 2399),
    host: env.HOST || '127.0.0.1',
    dataDir,
    libsqlUrl: env.LIBSQL_URL || `file:${dataDir}/control-plane.db`,
    libsqlAuthToken: env.LIBSQL_AUTH_TOKEN || undefined,
    publicUrl: env.PUBLIC_URL || undefined,
    issuer: env.TOKEN_ISSUER || 'swarmlet',
    instanceId: env.INSTANCE_ID || `cp-${crypto.randomUUID().slice(0, 8)}`,
    lease: {
      ttlMs: intFrom(env, 'LEASE_TTL_MS', 15_000),
      renewMs: intFrom(env, 'LEASE_RENEW_MS', 5_000),
      retryMs: intFrom(env, 'LEASE_RETRY_MS', 2_000),
    },
    heartbeat: { periodMs: heartbeatPeriodMs, misses: intFrom(env, 'HEARTBEAT_MISSES', 3) },
    joinTokenTtlMs: intFrom(env, 'JOIN_TOKEN_TTL_MS', 365 * 24 * 3600_000),
    nodeCredentialTtlMs: intFrom(env, 'NODE_CREDENTIAL_TTL_MS', 3600_000),
    longPollMaxWaitMs: intFrom(env, 'LONG_POLL_MAX_WAIT_MS', 120_000),
    bodyLimitBytes: intFrom(env, 'BODY_LIMIT_BYTES', 1024 * 1024),
    adminToken: env.ADMIN_TOKEN || undefined,
    taskHistoryPerSlot: intFrom(env, 'TASK_HISTORY_PER_SLOT', 5),
    statusBatchMs: intFrom(env, 'STATUS_BATCH_MS', 25),
  };
}
