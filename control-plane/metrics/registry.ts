import { MetricRegistry, secondsSince } from '../../protocol/metrics.ts';

/**
 * The control plane's own series, kept in this process's memory (on Workers: this isolate's, so
 * each isolate counts what it served and a scrape sees one isolate). Series with a `cluster`
 * label belong to that tenant's cluster; series without one are the operator's only.
 */
export class ControlPlaneMetrics {
  readonly registry = new MetricRegistry();
  readonly requests = this.registry.counter('swarmlet_http_requests_total', 'HTTP requests answered, by route pattern, method and status.');
  readonly requestSeconds = this.registry.histogram('swarmlet_http_request_duration_seconds', 'Time to answer an HTTP request (a long-poll counts its wait), by route pattern and method.');
  readonly rateLimited = this.registry.counter('swarmlet_rate_limited_total', 'Requests refused with 429 by fair sharing, by route pattern.');
  readonly longPolls = this.registry.gauge('swarmlet_long_polls_open', 'Assignment long-polls of agents waiting on this instance.');
  readonly reconcileSeconds = this.registry.histogram('swarmlet_reconcile_pass_duration_seconds', 'One leader pass (reconcile and schedule, one transaction) over a cluster.');
  readonly placements = this.registry.counter('swarmlet_placements_total', 'Tasks the scheduler assigned to a node.');
  readonly transactionSeconds = this.registry.histogram('swarmlet_db_transaction_duration_seconds', 'A write transaction, from its turn to its commit or failure (lock retries included).');
  readonly busyRetries = this.registry.counter('swarmlet_db_busy_retries_total', 'Write attempts retried because another process held the database lock.');

  /** Times one leader pass; `placed` is how many tasks it assigned. */
  recordPass(clusterId: string, startedMs: number, placed: number): void {
    this.reconcileSeconds.observe({ cluster: clusterId }, secondsSince(startedMs));
    if (placed) this.placements.inc({ cluster: clusterId }, placed);
  }
}
