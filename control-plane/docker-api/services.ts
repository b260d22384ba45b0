import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, writeCluster } from '../app-env.ts';
import { services } from '../db/schema/index.ts';
import { conflict } from '../errors.ts';
import { modeNameOf, withDefaults } from '../swarm/service-spec.ts';
import { createService, removeService, serviceCounts, updateService } from '../swarm/services.ts';
import { validateServiceSpec } from '../swarm/validate-service.ts';
import { jsonOk, readJsonObject, versionParam } from './body.ts';
import { boolParam } from './query.ts';
import { matchesAny, matchesLabels, parseFilters } from './filters.ts';
import { findService } from '../swarm/lookup.ts';
import { toDockerService } from './views.ts';
import { assertServiceRoom } from '../fair-share/index.ts';

const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'] as const;

export const serviceRoutes = new Hono<AppEnv>()
  .get('/services', async (c) => {
    const { cluster, deps } = c.var;
    const filters = parseFilters(c.req.query('filters'), SERVICE_FILTERS);
    const rows = (await deps.database.db.select().from(services).where(eq(services.clusterId, cluster.id))).filter(
      (s) =>
        matchesAny(filters.get('id'), (v) => s.id.startsWith(v)) &&
        matchesAny(filters.get('name'), (v) => s.name.startsWith(v)) &&
        matchesAny(filters.get('mode'), (v) => v === modeNameOf(s.spec)) &&
        matchesLabels(filters.get('label'), s.spec.Labels),
    );
    const status = boolParam(c, 'status') ? await serviceCounts(deps.database.db, cluster.id) : undefined;
    return jsonOk(rows.map((s) => toDockerService(s, s.spec, status?.(s))));
  })
  .get('/services/:ref', async (c) => {
    const { cluster, deps } = c.var;
    const s = await findService(deps.database.db, cluster.id, c.req.param('ref'));
    const spec = boolParam(c, 'insertDefaults') ? withDefaults(s.spec) : s.spec;
    return jsonOk(toDockerService(s, spec));
  })
  .post('/services/create', async (c) => {
    const { cluster, deps } = c.var;
    const spec = validateServiceSpec(await readJsonObject(c));
    const id = await writeCluster(deps, cluster.id, async (tx) => {
      await assertServiceRoom(tx, cluster.id, deps.config.fairShare.servicesPerCluster);
      return createService(tx, cluster.id, spec, deps.now());
    });
    return jsonOk({ ID: id }, 201);
  })
  .post('/services/:ref/update', async (c) => {
    const { cluster, deps } = c.var;
    const version = versionParam(c, 'service');
    const rollback = c.req.query('rollback') === 'previous';
    const posted = await readJsonObject(c);
    await writeCluster(deps, cluster.id, async (tx) => {
      const s = await findService(tx, cluster.id, c.req.param('ref'));
      if (s.version !== version) {
        throw conflict(`update out of sequence: service ${s.name} is at version ${s.version}, the update was based on ${version}; read it again and retry`);
      }
      await updateService(tx, s, rollback ? { rollback } : { rollback, spec: validateServiceSpec(posted) }, deps.now());
    });
    return jsonOk({ Warnings: null });
  })
  .delete('/services/:ref', async (c) => {
    const { cluster, deps } = c.var;
    await writeCluster(deps, cluster.id, async (tx) => removeService(tx, await findService(tx, cluster.id, c.req.param('ref')), deps.now()));
    return new Response(null, { status: 200 });
  });
