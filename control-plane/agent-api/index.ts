import { Hono } from 'hono';
import type { AppDeps } from '../deps.ts';
import { joinTokenPolicy, nodeCredentialPolicy, verifyJoinToken, verifyNodeCredential, signNodeCredential } from '../auth/tokens.ts';
import { openSigningKey } from '../auth/signing-keys.ts';
import { readJsonObject, jsonOk } from '../docker-api/body.ts';
import { readClusterIndex } from '../db/database.ts';
import { ApiError, invalid } from '../errors.ts';
import { clusterUrl, writeCluster } from '../app-env.ts';
import { assignmentsIndexes, nodesAssignments } from './assignments.ts';
import type { AnswerBuilder, Answered } from './answer-batches.ts';
import { agentInstanceUrls } from './instances.ts';
import { agentLogRoutes } from './logs.ts';
import { admitNode } from './join.ts';
import { isLocalUrl, validateJoiningNode } from './join-request.ts';
import { type AgentEnv, clusterKeys, nodeAuth } from './node-auth.ts';
import type { AssignmentsAnswer, AssignmentsResponse, DrainsResponse, JoinResponse } from '../../protocol/agent-api.ts';
import { DRAINS_MAX_TASKS, drainedTasks } from './drains.ts';
import { isTaskReport } from './status-batcher.ts';
import type { NodeRow } from '../orchestrator/cluster-state.ts';
import type { Cluster } from '../swarm/clusters.ts';

/** What every answer tells the agent besides its assignments: how often to be heard from, and where. */
async function timingOf(deps: AppDeps, cluster: Cluster) {
  const db = deps.database.db;
  return {
    heartbeatPeriodMs: await deps.heartbeatPeriods.periodMs(db, cluster.id),
    controlPlaneUrls: await agentInstanceUrls(db, { ttlMs: deps.config.instances.ttlMs, ownUrl: deps.publicUrl(), clusterUrl: clusterUrl(deps, cluster) }),
  };
}

/** Builds the answers of a batch of the cluster's nodes: their indexes, and the tasks and views of those with news. */
function answerBuilder(deps: AppDeps, cluster: Cluster): AnswerBuilder {
  const db = deps.database.db;
  return async (asked) => {
    const indexes = await assignmentsIndexes(db, cluster.id, [...asked.keys()]);
    const news = new Map([...indexes].filter(([nodeId, index]) => index > asked.get(nodeId)!));
    const timing = news.size ? { ...(await timingOf(deps, cluster)), taskDrainMs: deps.config.taskDrainMs } : undefined;
    const answers = timing ? await nodesAssignments(db, cluster.id, news, timing, deps.keyRing) : new Map<string, AssignmentsResponse>();
    return new Map([...indexes].map(([nodeId, index]) => [nodeId, { index, answer: answers.get(nodeId) }]));
  };
}

async function credentialFor(deps: AppDeps, cluster: Cluster, node: NodeRow) {
  const credentialExpiresAt = deps.now() + deps.config.nodeCredentialTtlMs;
  const credential = await signNodeCredential(await openSigningKey(deps.keyRing, cluster), deps.config.issuer, {
    clusterId: cluster.id,
    nodeId: node.id,
    generation: node.credentialGeneration,
    expiresAt: credentialExpiresAt,
  });
  return { credential, credentialExpiresAt };
}

/** `wait` as Nomad takes it ("30s", "500ms", or milliseconds), capped and jittered. */
function waitMs(raw: string | undefined, max: number): number {
  if (!raw) return 0;
  const m = /^(\d+)(ms|s|m)?$/.exec(raw);
  if (!m) throw invalid(`invalid wait '${raw}': expected e.g. 30s or 500ms`);
  const unit = m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1;
  const wait = Math.min(Number(m[1]) * unit, max);
  // Jitter spreads the re-polls of many agents that started together.
  return wait + Math.floor(Math.random() * (wait / 16));
}

export const agentApi = new Hono<AgentEnv>()
  .post('/join', async (c) => {
    const { deps } = c.var;
    const body = await readJsonObject(c);
    if (typeof body.token !== 'string') throw invalid('token is required');
    const claims = await verifyJoinToken(body.token, clusterKeys(deps), joinTokenPolicy(deps.config));
    deps.fairShare.admitJoin(claims.jti);
    const cluster = await deps.database.db.query.clusters.findFirst({ where: (t, { eq }) => eq(t.id, claims.clusterId) });
    if (!cluster) throw new ApiError('unauthorized', 'join token is for a swarm that no longer exists');
    // A loopback addr is the truth only when every agent runs on this machine (the join URL is loopback).
    const info = validateJoiningNode(body.node, { loopbackAllowed: isLocalUrl(clusterUrl(deps, cluster)) });
    // A rejoin proves which node it is with that node's last credential, even one expired while
    // the host was off; the host's public WireGuard key proves nothing and is never used for it.
    let rejoin: { nodeId: string; generation: number } | undefined;
    if (typeof body.credential === 'string') {
      try {
        const cred = await verifyNodeCredential(body.credential, clusterKeys(deps), nodeCredentialPolicy(deps.config), deps.config.rejoinGraceMs);
        if (cred.clusterId === claims.clusterId) rejoin = { nodeId: cred.nodeId, generation: cred.generation };
      } catch {
        // Not a usable credential: this is a fresh join.
      }
    }
    const node = await writeCluster(deps, claims.clusterId, (tx) =>
      admitNode(tx, { clusterId: claims.clusterId, jti: claims.jti, info, rejoin, now: deps.now() }),
    );
    deps.heartbeatPeriods.forget(cluster.id);
    const response: JoinResponse = {
      nodeId: node.id,
      clusterId: cluster.id,
      ...(await credentialFor(deps, cluster, node)),
      heartbeatPeriodMs: await deps.heartbeatPeriods.periodMs(deps.database.db, cluster.id),
    };
    return jsonOk(response);
  })
  .post('/credential', nodeAuth(), async (c) => jsonOk(await credentialFor(c.var.deps, c.var.cluster, c.var.node)))
  .get('/assignments', nodeAuth(), async (c) => {
    const { deps, cluster, node } = c.var;
    const since = Number(c.req.query('index') ?? 0);
    const brief = c.req.query('brief') === '1';
    if (!Number.isInteger(since) || since < 0) throw invalid('index must be a non-negative integer');
    const deadline = Date.now() + waitMs(c.req.query('wait'), deps.config.longPollMaxWaitMs);
    const db = deps.database.db;
    const { fairShare } = deps;
    // Only a poll that may wait holds one of the node's few long-poll places; a newer poll may end it.
    const poll = since > 0 && deadline > Date.now() ? fairShare.openLongPoll(node.id) : undefined;
    const ended = poll ? AbortSignal.any([c.req.raw.signal, poll.signal]) : c.req.raw.signal;
    const polling = { cluster: cluster.id };
    if (poll) deps.metrics.longPolls.inc(polling);
    const build = answerBuilder(deps, cluster);
    try {
      // Blocking query: answer at once if anything newer exists, else when it changes or time runs out.
      // The cluster index is read once, before the first look at the node's own; after that the
      // notifier's answer is the index to wait from: it has committed (with every lower one), so the
      // node's index read that follows it already saw all changes up to it. The notifier wakes
      // this poll only for changes that may concern this node, and the polls one change woke are
      // answered together (AnswerBatches).
      let watched: number | undefined;
      let answered: Answered | undefined;
      while (since > 0 && Date.now() < deadline && !ended.aborted) {
        watched ??= await readClusterIndex(db, cluster.id);
        answered = await deps.answerBatches.ask(cluster.id, node.id, since, build);
        if (answered.answer) break;
        watched = await deps.notifier.waitForChange(cluster.id, watched, deadline - Date.now(), ended, node.id);
      }
      // A poll that waited and timed out (or was ended) looks once more: a change the notifier
      // did not wake it for (one it took for another node's) is answered now, not left until
      // something else wakes the node, since a brief answer would tell it nothing changed.
      if (answered && !answered.answer) answered = await deps.answerBatches.ask(cluster.id, node.id, since, build);
      // A poll that did not wait, timed out or was ended is answered with what there is; briefly
      // when it asked so and what there is is what it holds.
      const body: AssignmentsAnswer =
        answered?.answer ??
        (brief && answered?.index === since
          ? { index: since, nodeId: node.id, unchanged: true, ...(await timingOf(deps, cluster)) }
          : (await deps.answerBatches.ask(cluster.id, node.id, 0, build)).answer!);
      return new Response(JSON.stringify(body), {
        headers: { 'Content-Type': 'application/json', 'X-Swarmlet-Index': String(body.index) },
      });
    } finally {
      if (poll) deps.metrics.longPolls.dec(polling);
      poll?.end();
    }
  })
  .post('/status', nodeAuth(), async (c) => {
    const { deps, cluster, node } = c.var;
    const body = await readJsonObject(c);
    const reports = body.reports ?? [];
    if (!Array.isArray(reports) || !reports.every(isTaskReport)) throw invalid('reports must be an array of {taskId, state, timestamp}');
    const applied = body.appliedIndex;
    if (applied !== undefined && !(Number.isSafeInteger(applied) && (applied as number) >= 0)) throw invalid('appliedIndex must be a non-negative integer');
    return jsonOk(await deps.statusBatcher.report(cluster.id, node.id, reports, applied as number | undefined));
  })
  .get('/drains', nodeAuth(), async (c) => {
    const { deps, cluster, node } = c.var;
    const ids = c.req.queries('task') ?? [];
    if (!ids.length || ids.length > DRAINS_MAX_TASKS) throw invalid(`task must name 1 to ${DRAINS_MAX_TASKS} task IDs`);
    return jsonOk({ drained: await drainedTasks(deps.database.db, cluster.id, node.id, ids) } satisfies DrainsResponse);
  })
  .route('/', agentLogRoutes);
