import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, joinTarget, writeCluster } from '../app-env.ts';
import { requireSwarm } from '../auth/api-key.ts';
import { bumpIndex } from '../db/database.ts';
import { clusters } from '../db/schema/index.ts';
import { ApiError, conflict, invalid } from '../errors.ts';
import { currentJoinTokens, initializeSwarm, rotateJoinToken } from '../swarm/clusters.ts';
import { parseSwarmInit } from '../swarm/swarm-init.ts';
import { refuseCaRotation, validateSwarmSpec } from '../swarm/validate-swarm.ts';
import { emptyOk, jsonOk, readJsonObject, versionParam } from './body.ts';
import { boolParam } from './query.ts';
import { swarmObject } from './system.ts';

/** `--advertise-addr 10.0.0.5[:port]` becomes the URL agents are told to use. */
function advertiseUrl(addr: unknown, fallback: string): string | undefined {
  if (addr === undefined || addr === null || addr === '') return undefined;
  if (typeof addr !== 'string' || !/^[\w.-]+(:\d{1,5})?$/.test(addr)) throw invalid(`invalid AdvertiseAddr ${JSON.stringify(addr)}: expected <ip|host>[:port]`);
  const base = new URL(fallback);
  const [host, port] = addr.split(':');
  return `${base.protocol}//${host}:${port ?? base.port}`;
}

export const swarm = new Hono<AppEnv>()
  .post('/swarm/init', async (c) => {
    const { cluster, deps } = c.var;
    const body = await readJsonObject(c);
    if (cluster.initializedAt !== null) {
      throw new ApiError('unavailable', 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.');
    }
    const init = parseSwarmInit(body, cluster.spec);
    const url = advertiseUrl(init.advertiseAddr, deps.publicUrl());
    const now = deps.now();
    await writeCluster(deps, cluster.id, async (tx) => {
      const fresh = await tx.query.clusters.findFirst({ where: eq(clusters.id, cluster.id) });
      if (fresh?.initializedAt !== null) throw new ApiError('unavailable', 'This node is already part of a swarm.');
      await initializeSwarm(tx, fresh, now, deps.config.joinTokenTtlMs, { advertiseUrl: url, spec: init.spec, dataPath: init.dataPath });
    });
    // Agents will dial the advertised address: the certificate must name it before they come.
    if (url) await deps.coverAdvertiseHost(new URL(url).hostname.replace(/^\[|\]$/g, ''));
    return jsonOk(cluster.managerNodeId);
  })
  .post('/swarm/join', () => {
    throw invalid('this API is the swarm manager itself; on a Docker host run: swarm-agent join <token>');
  })
  .post('/swarm/leave', () => {
    throw invalid('the control plane cannot leave its own swarm; on a Docker host stop swarm-agent and run: docker node rm <node>');
  })
  .use('/swarm', requireSwarm())
  .use('/swarm/*', requireSwarm())
  .get('/swarm', async (c) => {
    const { cluster, deps } = c.var;
    const tokens = await currentJoinTokens(deps.database.db, deps.keyRing, cluster, deps.config.issuer, joinTarget(deps, cluster));
    return jsonOk({ ...swarmObject(cluster, deps.trust), JoinTokens: { Worker: tokens.worker, Manager: tokens.manager } });
  })
  .get('/swarm/unlockkey', () => jsonOk({ UnlockKey: '' }))
  .post('/swarm/update', async (c) => {
    const { cluster, deps } = c.var;
    const version = versionParam(c, 'swarm');
    const spec = validateSwarmSpec(await readJsonObject(c));
    refuseCaRotation(spec, cluster.spec);
    const now = deps.now();
    await writeCluster(deps, cluster.id, async (tx) => {
      const fresh = (await tx.query.clusters.findFirst({ where: eq(clusters.id, cluster.id) }))!;
      if (fresh.version !== version) {
        throw conflict(`update out of sequence: the swarm is at version ${fresh.version}, the update was based on ${version}; read it again and retry`);
      }
      for (const role of ['worker', 'manager'] as const) {
        const flag = role === 'worker' ? 'rotateWorkerToken' : 'rotateManagerToken';
        if (boolParam(c, flag)) await rotateJoinToken(tx, cluster.id, role, now, deps.config.joinTokenTtlMs);
      }
      const index = await bumpIndex(tx, cluster.id);
      await tx.update(clusters).set({ spec, version: index, updatedAt: now }).where(eq(clusters.id, cluster.id));
    });
    return emptyOk();
  });
