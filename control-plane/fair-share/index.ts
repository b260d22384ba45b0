/**
 * Fair sharing of one control plane between tenants and their nodes (see the README's "Fair
 * sharing"). Rates and concurrency are this instance's, in memory: the control plane is stateless
 * and may run several instances, each of which allows a credential this much. What is stored
 * (log bytes, live join tokens, services) is counted in the database by quotas.ts.
 */
import type { FairShareConfig } from '../config.ts';
import { ApiError, rateLimited } from '../errors.ts';
import { KeyedSlots } from './keyed-slots.ts';
import { type LongPoll, LongPolls } from './long-polls.ts';
import { RequestTurns } from './request-turns.ts';
import { TokenBuckets } from './token-buckets.ts';

export { assertJoinTokenRoom, assertLogRoom, assertServiceRoom } from './quotas.ts';

export class FairShare {
  private readonly apiRequests: TokenBuckets;
  private readonly nodeRequests: TokenBuckets;
  private readonly logBytes: TokenBuckets;
  private readonly joins: TokenBuckets;
  private readonly longPolls: LongPolls;
  private readonly assignmentReads: KeyedSlots;
  private readonly tenantTurns: KeyedSlots;
  private readonly requestTurns = new RequestTurns();
  /**
   * Eight handshakes of one address a turn: the hosts of a site behind one NAT share an address,
   * and at one a turn, turns made long by a busy cluster's passes, 5,000 agents connecting at once
   * waited past their connect timeouts. Eight are ~7 ms of a turn (a flood's 400 took 330 ms).
   */
  private readonly handshakeTurns = new RequestTurns(256, 8);

  constructor(
    readonly limits: FairShareConfig,
    now: () => number = Date.now,
  ) {
    this.apiRequests = new TokenBuckets(limits.apiRequestsPerSec, limits.apiBurst, now);
    this.nodeRequests = new TokenBuckets(limits.nodeRequestsPerSec, limits.nodeBurst, now);
    this.logBytes = new TokenBuckets(limits.logBytesPerSecPerNode, limits.logBurstBytesPerNode, now);
    this.joins = new TokenBuckets(limits.joinsPerSecPerToken, limits.joinBurstPerToken, now);
    this.longPolls = new LongPolls(limits.longPollsPerNode);
    this.assignmentReads = new KeyedSlots(limits.assignmentReadsPerCluster);
    this.tenantTurns = new KeyedSlots(limits.apiConcurrentPerCluster);
  }

  /**
   * Any request, before anything else is done with it: requests start one per event-loop turn,
   * round the principals that sent them (`principal`: the credential it carries), see RequestTurns.
   */
  requestTurn(principal: string): Promise<void> | undefined {
    return this.limits.requestTurns ? this.requestTurns.take(principal) : undefined;
  }

  /** A new TLS connection's handshake, in turns the same way, round the peer addresses (see connection-intake.ts and handshakeTurns). */
  handshakeTurn(address: string): Promise<void> | undefined {
    return this.limits.requestTurns ? this.handshakeTurns.take(address) : undefined;
  }

  /** One Docker API request of a tenant (every API key of a cluster shares its bucket). */
  admitApiRequest(clusterId: string): void {
    const waitMs = this.apiRequests.take(clusterId);
    const { apiRequestsPerSec: rate, apiBurst: burst } = this.limits;
    if (waitMs) throw rateLimited(`too many requests: this swarm may send ${rate} requests a second (bursts of ${burst}); slow down and retry`, waitMs);
  }

  /**
   * Handles a tenant's request once fewer than a few of its others are being handled. The database
   * driver works synchronously, so every request in progress takes turns on the event loop: a
   * tenant with 50 in flight would make another's one request wait for 50 turns. Queued rather
   * than refused: the docker CLI does not retry a 429. Only the handler counts, not the streaming
   * of its answer (`docker service logs -f`, `docker events`).
   */
  inTenantTurn<T>(clusterId: string, handle: () => Promise<T>): Promise<T> {
    return this.tenantTurns.run(clusterId, handle);
  }

  /** One agent API request of a node credential. */
  admitNodeRequest(nodeId: string): void {
    const waitMs = this.nodeRequests.take(nodeId);
    const { nodeRequestsPerSec: rate, nodeBurst: burst } = this.limits;
    if (waitMs) throw rateLimited(`too many requests: a node may send ${rate} requests a second (bursts of ${burst}); slow down and retry`, waitMs);
  }

  /**
   * A join with the join token `jti`, once its signature was verified and before the database is
   * asked anything. Per token rather than per source address: behind a proxy or NAT every host has
   * one address, and a token is what lets a host in (a forged one is refused by its signature).
   */
  admitJoin(jti: string): void {
    const waitMs = this.joins.take(jti);
    const { joinsPerSecPerToken: rate, joinBurstPerToken: burst } = this.limits;
    if (waitMs) throw rateLimited(`too many joins: one join token may join ${rate} nodes a second (bursts of ${burst}); retry later`, waitMs);
  }

  /** A long-poll of a node begins: past the node's limit its oldest waiting one ends (see LongPolls). */
  openLongPoll(nodeId: string): LongPoll {
    return this.longPolls.begin(nodeId);
  }

  /** Runs a woken long-poll's reads, at most a few of one cluster's at a time. */
  readAssignments<T>(clusterId: string, read: () => Promise<T>): Promise<T> {
    return this.assignmentReads.run(clusterId, read);
  }

  /** A node posts a batch of `bytes` log bytes. */
  admitLogBytes(nodeId: string, bytes: number): void {
    const { logChunkMaxBytes: max, logBytesPerSecPerNode: rate } = this.limits;
    if (max > 0 && bytes > max) throw new ApiError('too_large', `log batch of ${bytes} bytes is too large: send at most ${max} bytes per batch`);
    const waitMs = this.logBytes.take(nodeId, bytes);
    if (waitMs) throw rateLimited(`too many log bytes: a node may send ${rate} bytes a second; retry later`, waitMs);
  }
}
