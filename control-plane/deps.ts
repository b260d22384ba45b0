import { createLogger, type Logger } from '../protocol/log.ts';
import { LogArrivals } from './log-relay/index.ts';
import { VerifiedCredentials } from './agent-api/node-auth.ts';
import { HeartbeatPeriods } from './orchestrator/heartbeat-period.ts';
import { StatusBatcher } from './agent-api/status-batcher.ts';
import type { KeyRing } from './auth/envelope.ts';
import type { Config } from './config.ts';
import { type Database, readClusterIndex } from './db/database.ts';
import { Notifier, type NotifierOptions } from './notifier.ts';
import { FairShare } from './fair-share/index.ts';
import { AnswerBatches } from './agent-api/answer-batches.ts';
import { ControlPlaneMetrics } from './metrics/registry.ts';
import { readLease } from './orchestrator/lease.ts';
import type { ClusterTrust } from './tls/trust.ts';

/**
 * What the runtime-neutral app is built from, and every piece of state an instance keeps between
 * requests. Node, the Worker and the tests each build theirs with buildDeps.
 */
export interface AppDeps {
  database: Database;
  config: Config;
  /** Key-encryption keys that open the clusters' signing keys. */
  keyRing: KeyRing;
  log: Logger;
  notifier: Notifier;
  now: () => number;
  /** Where agents reach this control plane when a cluster has no advertise address of its own. */
  publicUrl: () => string;
  /** The CA (or system roots) join tokens pin and `docker swarm ca` shows; undefined when serving plain HTTP. */
  trust: ClusterTrust | undefined;
  /** `docker swarm init --advertise-addr X`: the server certificate must name X from now on. */
  coverAdvertiseHost: (host: string) => Promise<void>;
  /** Who holds the leader lease, for `docker info`. */
  leaseHolder: () => Promise<{ holder: string; epoch: number } | undefined>;
  /** Agents' heartbeats and task reports, coalesced into few transactions. */
  statusBatcher: StatusBatcher;
  /** The heartbeat period each cluster's agents are handed (it grows with the cluster). */
  heartbeatPeriods: HeartbeatPeriods;
  /** Wakes this instance's log readers when an agent's batch lands here. */
  logArrivals: LogArrivals;
  /** Node credentials whose signature was checked already. */
  verifiedCredentials: VerifiedCredentials;
  /** Rate and concurrency limits per tenant and node credential, in this instance's memory. */
  fairShare: FairShare;
  /** Woken long-polls of a cluster, answered together. */
  answerBatches: AnswerBatches;
  /** This instance's Prometheus series (GET /metrics). */
  metrics: ControlPlaneMetrics;
}

/**
 * The most nodes one batch of woken long-polls answers (AnswerBatches): a 10,000-node cluster's
 * global change is answered in slices of tens of milliseconds each, with other tenants' requests
 * between them.
 */
const ANSWER_BATCH_NODES = 500;

export interface RuntimeOptions {
  /** Known only once the server listens (PORT=0); the config's PUBLIC_URL otherwise. */
  publicUrl?: () => string;
  trust?: ClusterTrust;
  coverAdvertiseHost?: (host: string) => Promise<void>;
  notifier?: NotifierOptions;
  /** False where a request must not wait on another's promise (Workers): each long-poll is answered alone. */
  batchAnswers?: boolean;
  now?: () => number;
  log?: Logger;
}

export function buildDeps(config: Config, database: Database, keyRing: KeyRing, opts: RuntimeOptions = {}): AppDeps {
  const now = opts.now ?? Date.now;
  const metrics = new ControlPlaneMetrics();
  database.observeWrites({
    transaction: (seconds) => metrics.transactionSeconds.observe({}, seconds),
    busyRetry: () => metrics.busyRetries.inc(),
  });
  const fairShare = new FairShare(config.fairShare, now);
  const notifier = new Notifier((clusterId) => readClusterIndex(database.db, clusterId), config.notifierPollMs, opts.notifier);
  return {
    database,
    config,
    keyRing,
    log: opts.log ?? createLogger({ format: config.log.format, debug: config.log.debug }),
    notifier,
    now,
    publicUrl: opts.publicUrl ?? (() => config.publicUrl ?? ''),
    trust: opts.trust,
    coverAdvertiseHost: opts.coverAdvertiseHost ?? (async () => undefined),
    leaseHolder: async () => {
      const lease = await readLease(database);
      return lease && lease.expiresAt > now() ? { holder: lease.holder, epoch: lease.epoch } : undefined;
    },
    // Bare heartbeats are written a quarter period late at most: liveness is judged in whole periods.
    statusBatcher: new StatusBatcher({ database, notifier, now }, config.statusBatchMs, Math.max(config.statusBatchMs, config.heartbeat.periodMs / 4)),
    heartbeatPeriods: new HeartbeatPeriods(config.heartbeat),
    logArrivals: new LogArrivals(),
    verifiedCredentials: new VerifiedCredentials(),
    fairShare,
    answerBatches: new AnswerBatches((clusterId, read) => fairShare.readAssignments(clusterId, read), ANSWER_BATCH_NODES, opts.batchAnswers ?? true),
    metrics,
  };
}
