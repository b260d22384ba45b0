import type { LogFormat } from '../protocol/log.ts';

/**
 * The control plane's one configuration object, read once from the environment at start. Every
 * tunable lives here (the README's configuration table lists them); tests pass an env object.
 */
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
  tls: TlsConfig;
  /** Identifies this process as a lease holder. */
  instanceId: string;
  db: DatabaseTuning;
  lease: { ttlMs: number; renewMs: number; retryMs: number };
  /**
   * This instance's registration (its URL, for agents to move to when theirs fails): renewed every
   * `renewMs`; an instance not seen for `ttlMs` is no longer offered to agents.
   */
  instances: { ttlMs: number; renewMs: number };
  /**
   * Agents report every period/2; a node silent for period × misses is down. `perSecond` caps a
   * cluster's heartbeats: the period handed to its agents grows with its size (0: no cap).
   */
  heartbeat: { periodMs: number; misses: number; perSecond: number };
  joinTokenTtlMs: number;
  /** How long a spent, revoked or expired join token's row is kept (to explain a refused join). */
  joinTokenRetentionMs: number;
  nodeCredentialTtlMs: number;
  /** The furthest ahead a token's `exp` may lie: longer-lived tokens (and ones without exp) are refused. */
  tokenMaxTtl: { joinMs: number; nodeCredentialMs: number };
  /**
   * Key-encryption keys that seal the clusters' signing keys at rest, base64, the current one first
   * (older ones only open). Unset on Node: read from `file`, which the first start creates.
   */
  kek: { keys: string[]; file: string };
  /** How long after its credential expired a node can still come back as itself. */
  rejoinGraceMs: number;
  longPollMaxWaitMs: number;
  /** How long a stop (SIGTERM) waits for the leader's pass, the lease's release and the deregistration. */
  shutdownGraceMs: number;
  /**
   * Node only: how far the JavaScript heap may grow past what the last full collection kept before
   * the next, in percent; 0 leaves it to V8. See heap-growth.ts.
   */
  heapGrowthPercent: number;
  /**
   * The longest a stopping task that was a backend (of a VIP, a name, the routing mesh) keeps
   * running after it left those sets: it stops once every host routing to it applied the change
   * (GET /drains), or after this; 0 stops at once.
   */
  taskDrainMs: number;
  /** How often an instance polls the change index for other instances' writes while someone waits. */
  notifierPollMs: number;
  bodyLimitBytes: number;
  /** Deepest nesting of arrays and objects a JSON body may have (a ServiceSpec needs about 8). */
  jsonMaxDepth: number;
  /** Bearer token of the admin (tenant) API; the admin API is closed when unset. */
  adminToken: string | undefined;
  /** Bearer token that reads every cluster's series at /metrics; API keys read their own cluster's. */
  metricsToken: string | undefined;
  /** Task history kept per slot (Docker's TaskHistoryRetentionLimit). */
  taskHistoryPerSlot: number;
  /** How often the leader drops expired tokens, log rows and events. */
  housekeepingMs: number;
  /** How far back `docker events --since` reaches. */
  eventsRetentionMs: number;
  /** How long agents' status reports are gathered into one transaction; 0 = one per request (Workers). */
  statusBatchMs: number;
  logRelay: LogRelayConfig;
  fairShare: FairShareConfig;
  log: { format: LogFormat; debug: boolean; /** One line per leader commit (cluster, index, epoch). */ commits: boolean };
}

/** How the control plane waits on a database file other processes also write. */
export interface DatabaseTuning {
  /** SQLite's own (synchronous, event-loop-blocking) wait for a lock, per attempt. */
  busyTimeoutMs: number;
  /** How long a write keeps retrying (asynchronously) for the write lock before it answers 503. */
  writeWaitMs: number;
  /** A WAL file larger than this is checkpointed and truncated after the next write. */
  walLimitBytes: number;
  /** Prepared statements a file connection keeps for reuse (0: prepare every execution anew). */
  statementCacheSize: number;
}

export const DATABASE_DEFAULTS: DatabaseTuning = {
  busyTimeoutMs: 50,
  writeWaitMs: 10_000,
  walLimitBytes: 8 * 1024 * 1024,
  statementCacheSize: 256,
};

/**
 * How the Node control plane serves: HTTPS with its own cluster CA (the default; the CA's key in
 * `dir`, its digest pinned in join tokens), HTTPS with a user-supplied certificate (verified
 * against the system roots), or plain HTTP, only when asked for (behind a TLS-terminating proxy).
 */
export type TlsConfig =
  | { mode: 'cluster-ca'; dir: string }
  | { mode: 'files'; certFile: string; keyFile: string }
  | { mode: 'off' };

/** Timings of the `docker service logs` relay. */
export interface LogRelayConfig {
  /** A request lives this long unless the instance serving the client renews it. */
  requestTtlMs: number;
  renewEveryMs: number;
  /** Unread chunks outlive a reader that died by this much. */
  chunkTtlMs: number;
  /** How often a reader looks for chunks another instance wrote. */
  pollMs: number;
  /** How often a follow looks for tasks that started after it began. */
  taskScanMs: number;
  /** Without follow: how long to wait for a node that has sent nothing yet or nothing more. */
  idleTimeoutMs: number;
}

/**
 * Fair-share limits: what one credential or tenant may take of a shared control plane. Rates are
 * token buckets kept in each instance's memory (several instances each allow this much); stored
 * sizes and counts are read from the database, so they hold across instances.
 */
export interface FairShareConfig {
  /** Docker API requests per second per cluster (tenant), and the burst above that rate. */
  apiRequestsPerSec: number;
  apiBurst: number;
  /** Docker API requests of one cluster handled at once; the others wait their turn. */
  apiConcurrentPerCluster: number;
  /** Requests start in turns round the credentials that sent them (see RequestTurns). */
  requestTurns: boolean;
  /** Agent API requests per second per node credential, and the burst. */
  nodeRequestsPerSec: number;
  nodeBurst: number;
  /**
   * Joins per second with one join token, and the burst: many hosts may join with one token at once
   * (an autoscaling group), but one token must not add nodes without end.
   */
  joinsPerSecPerToken: number;
  joinBurstPerToken: number;
  /** Long-polls one node may have waiting at once; a new one past it ends the oldest (see LongPolls). */
  longPollsPerNode: number;
  /** Assignment reads of one cluster's woken long-polls running at once; the others queue. */
  assignmentReadsPerCluster: number;
  /** Log bytes per second a node may post, the burst, and the largest batch. */
  logBytesPerSecPerNode: number;
  logBurstBytesPerNode: number;
  logChunkMaxBytes: number;
  /** Log bytes a cluster may have stored at once, waiting for their readers. */
  logStoredBytesPerCluster: number;
  /** Join tokens of a cluster that can still be used (not spent, revoked or expired). */
  liveJoinTokensPerCluster: number;
  servicesPerCluster: number;
}

type Env = Record<string, string | undefined>;

function intFrom(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

function flagFrom(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (['', '0', 'false', 'no'].includes(raw)) return false;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  throw new Error(`${name} must be 1 or 0, got '${env[name]}'`);
}

const HOUR = 3600_000;
const MIB = 1024 * 1024;

function ttlWithin(env: Env, name: string, fallback: number, maxName: string, max: number): number {
  const value = intFrom(env, name, fallback);
  if (value > max) throw new Error(`${name} (${value}) must not exceed ${maxName} (${max})`);
  return value;
}

function tlsFrom(env: Env, dataDir: string): TlsConfig {
  const raw = (env.TLS ?? '').toLowerCase();
  if (!['', 'on', 'off'].includes(raw)) throw new Error(`TLS must be on or off, got '${env.TLS}'`);
  const certFile = env.TLS_CERT_FILE || undefined;
  const keyFile = env.TLS_KEY_FILE || undefined;
  if (raw === 'off') {
    if (certFile || keyFile) throw new Error('TLS=off contradicts TLS_CERT_FILE/TLS_KEY_FILE: unset one or the other');
    return { mode: 'off' };
  }
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither for the cluster CA');
    return { mode: 'files', certFile, keyFile };
  }
  return { mode: 'cluster-ca', dir: env.TLS_DIR || `${dataDir}/tls` };
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = env.DATA_DIR || './data';
  const logFormat = env.LOG_FORMAT || 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new Error(`LOG_FORMAT must be text or json, got '${logFormat}'`);
  const tokenMaxTtl = {
    joinMs: intFrom(env, 'JOIN_TOKEN_MAX_TTL_MS', 366 * 24 * HOUR),
    nodeCredentialMs: intFrom(env, 'NODE_CREDENTIAL_MAX_TTL_MS', 24 * HOUR),
  };
  return {
    port: intFrom(env, 'PORT', 2399),
    host: env.HOST || '127.0.0.1',
    dataDir,
    libsqlUrl: env.LIBSQL_URL || `file:${dataDir}/control-plane.db`,
    libsqlAuthToken: env.LIBSQL_AUTH_TOKEN || undefined,
    publicUrl: env.PUBLIC_URL || undefined,
    issuer: env.TOKEN_ISSUER || 'swarmlet',
    tls: tlsFrom(env, dataDir),
    instanceId: env.INSTANCE_ID || `cp-${crypto.randomUUID().slice(0, 8)}`,
    db: {
      busyTimeoutMs: intFrom(env, 'LIBSQL_BUSY_TIMEOUT_MS', DATABASE_DEFAULTS.busyTimeoutMs),
      writeWaitMs: intFrom(env, 'DB_WRITE_WAIT_MS', DATABASE_DEFAULTS.writeWaitMs),
      walLimitBytes: intFrom(env, 'WAL_LIMIT_BYTES', DATABASE_DEFAULTS.walLimitBytes),
      statementCacheSize: intFrom(env, 'LIBSQL_STATEMENT_CACHE', DATABASE_DEFAULTS.statementCacheSize),
    },
    lease: {
      ttlMs: intFrom(env, 'LEASE_TTL_MS', 15_000),
      renewMs: intFrom(env, 'LEASE_RENEW_MS', 5_000),
      retryMs: intFrom(env, 'LEASE_RETRY_MS', 2_000),
    },
    instances: { ttlMs: intFrom(env, 'INSTANCE_TTL_MS', 15_000), renewMs: intFrom(env, 'INSTANCE_RENEW_MS', 5_000) },
    // Down after 6 s of silence: a killed host's replicas run elsewhere within 10 s (Swarm: ~20 s).
    // Agents report every second, so only six missed reports in a row mark a node down.
    heartbeat: {
      periodMs: intFrom(env, 'HEARTBEAT_PERIOD_MS', 2_000),
      misses: intFrom(env, 'HEARTBEAT_MISSES', 3),
      // Nomad's default cap: 100 nodes keep the 2 s period, 1,000 nodes beat every 20 s.
      perSecond: intFrom(env, 'HEARTBEATS_PER_SEC', 50),
    },
    joinTokenTtlMs: ttlWithin(env, 'JOIN_TOKEN_TTL_MS', 365 * 24 * HOUR, 'JOIN_TOKEN_MAX_TTL_MS', tokenMaxTtl.joinMs),
    joinTokenRetentionMs: intFrom(env, 'JOIN_TOKEN_RETENTION_MS', 24 * HOUR),
    nodeCredentialTtlMs: ttlWithin(env, 'NODE_CREDENTIAL_TTL_MS', HOUR, 'NODE_CREDENTIAL_MAX_TTL_MS', tokenMaxTtl.nodeCredentialMs),
    tokenMaxTtl,
    kek: {
      keys: (env.KEK ?? '').split(',').map((k) => k.trim()).filter(Boolean),
      file: env.KEK_FILE || `${dataDir}/kek`,
    },
    rejoinGraceMs: intFrom(env, 'REJOIN_GRACE_MS', 30 * 24 * HOUR),
    longPollMaxWaitMs: intFrom(env, 'LONG_POLL_MAX_WAIT_MS', 120_000),
    shutdownGraceMs: intFrom(env, 'SHUTDOWN_GRACE_MS', 10_000),
    heapGrowthPercent: intFrom(env, 'HEAP_GROWTH_PERCENT', 0),
    taskDrainMs: intFrom(env, 'TASK_DRAIN_MS', 5_000),
    notifierPollMs: intFrom(env, 'NOTIFIER_POLL_MS', 250),
    bodyLimitBytes: intFrom(env, 'BODY_LIMIT_BYTES', 1024 * 1024),
    jsonMaxDepth: intFrom(env, 'JSON_MAX_DEPTH', 64),
    adminToken: env.ADMIN_TOKEN || undefined,
    metricsToken: env.METRICS_TOKEN || undefined,
    taskHistoryPerSlot: intFrom(env, 'TASK_HISTORY_PER_SLOT', 5),
    housekeepingMs: intFrom(env, 'HOUSEKEEPING_MS', 10 * 60_000),
    eventsRetentionMs: intFrom(env, 'EVENTS_RETENTION_MS', HOUR),
    statusBatchMs: intFrom(env, 'STATUS_BATCH_MS', 25),
    logRelay: {
      requestTtlMs: intFrom(env, 'LOG_REQUEST_TTL_MS', 90_000),
      renewEveryMs: intFrom(env, 'LOG_RENEW_EVERY_MS', 30_000),
      chunkTtlMs: intFrom(env, 'LOG_CHUNK_TTL_MS', 120_000),
      pollMs: intFrom(env, 'LOG_POLL_MS', 250),
      taskScanMs: intFrom(env, 'LOG_TASK_SCAN_MS', 2_000),
      idleTimeoutMs: intFrom(env, 'LOG_IDLE_TIMEOUT_MS', 10_000),
    },
    fairShare: {
      apiRequestsPerSec: intFrom(env, 'API_REQUESTS_PER_SEC', 100),
      apiBurst: intFrom(env, 'API_BURST', 500),
      apiConcurrentPerCluster: intFrom(env, 'API_CONCURRENT_PER_CLUSTER', 4),
      requestTurns: env.REQUEST_TURNS === undefined || flagFrom(env, 'REQUEST_TURNS'),
      nodeRequestsPerSec: intFrom(env, 'NODE_REQUESTS_PER_SEC', 20),
      nodeBurst: intFrom(env, 'NODE_BURST', 100),
      joinsPerSecPerToken: intFrom(env, 'JOINS_PER_SEC_PER_TOKEN', 5),
      joinBurstPerToken: intFrom(env, 'JOIN_BURST_PER_TOKEN', 100),
      longPollsPerNode: intFrom(env, 'LONG_POLLS_PER_NODE', 4),
      assignmentReadsPerCluster: intFrom(env, 'ASSIGNMENT_READS_PER_CLUSTER', 4),
      logBytesPerSecPerNode: intFrom(env, 'LOG_BYTES_PER_SEC_PER_NODE', 2 * MIB),
      logBurstBytesPerNode: intFrom(env, 'LOG_BURST_BYTES_PER_NODE', 8 * MIB),
      logChunkMaxBytes: intFrom(env, 'LOG_CHUNK_MAX_BYTES', MIB),
      logStoredBytesPerCluster: intFrom(env, 'LOG_STORED_BYTES_PER_CLUSTER', 64 * MIB),
      liveJoinTokensPerCluster: intFrom(env, 'LIVE_JOIN_TOKENS_PER_CLUSTER', 100),
      servicesPerCluster: intFrom(env, 'SERVICES_PER_CLUSTER', 1_000),
    },
    log: { format: logFormat, debug: flagFrom(env, 'LOG_DEBUG'), commits: flagFrom(env, 'LOG_COMMITS') },
  };
}
