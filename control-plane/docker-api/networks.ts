import { isObject, isStringMap } from '../json-guards.ts';
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, writeCluster } from '../app-env.ts';
import { type NetworkRow, networks } from '../db/schema/index.ts';
import { invalid } from '../errors.ts';
import { findNetwork } from '../swarm/lookup.ts';
import { createNetwork, type NetworkRequest, removeNetwork } from '../swarm/networks.ts';
import { withDockerKeys } from '../swarm/spec-keys.ts';
import { jsonOk, readJsonObject } from './body.ts';
import { matchesAny, matchesLabels, parseFilters } from './filters.ts';
import { iso } from './views.ts';

const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;


/** Docker's Network object for a swarm-scoped overlay network. */
export function toDockerNetwork(n: NetworkRow) {
  return {
    Name: n.name,
    Id: n.id,
    Created: iso(n.createdAt),
    Scope: 'swarm',
    Driver: 'overlay',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: n.ingress,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: null,
    Options: { 'com.docker.network.driver.overlay.vxlanid_list': '', ...n.options },
    Labels: n.labels,
  };
}

/**
 * `docker network create -d overlay`'s request, checked: what this control plane cannot give (a
 * local driver, IPv6, config-only networks, a second ingress) is refused with the reason.
 */
function networkRequest(posted: Record<string, unknown>): NetworkRequest {
  const body = withDockerKeys('NetworkCreateRequest', posted);
  const { Name, Driver, Scope, IPAM, Labels, Options } = body;
  if (typeof Name !== 'string' || Name === '') throw invalid('network name must be given');
  if (!NETWORK_NAME.test(Name) || Name.length > 128) throw invalid(`invalid network name ${JSON.stringify(Name)}: letters, digits, '_', '.' and '-', starting with a letter or digit`);
  if (Driver !== undefined && Driver !== '' && Driver !== 'overlay') {
    throw invalid(`network driver ${JSON.stringify(Driver)} is not supported: a swarm's networks span its hosts; use -d overlay`);
  }
  if (Scope !== undefined && Scope !== '' && Scope !== 'swarm') throw invalid(`network scope ${JSON.stringify(Scope)} is not supported: overlay networks are swarm-scoped`);
  if (body.Ingress === true) throw invalid('the swarm has its ingress network already');
  if (body.EnableIPv6 === true) throw invalid('IPv6 overlay networks are not supported yet');
  if (body.ConfigOnly === true || (isObject(body.ConfigFrom) && body.ConfigFrom.Network)) throw invalid('config-only networks are not supported');
  if (Labels !== undefined && Labels !== null && !isStringMap(Labels)) throw invalid('Labels must map strings to strings');
  if (Options !== undefined && Options !== null && !isStringMap(Options)) throw invalid('Options must map strings to strings');
  let subnet: string | undefined;
  let gateway: string | undefined;
  if (IPAM !== undefined && IPAM !== null) {
    if (!isObject(IPAM)) throw invalid('IPAM must be an object');
    if (IPAM.Driver !== undefined && IPAM.Driver !== '' && IPAM.Driver !== 'default') throw invalid(`IPAM driver ${JSON.stringify(IPAM.Driver)} is not supported`);
    const configs = IPAM.Config ?? [];
    if (!Array.isArray(configs) || configs.length > 1) throw invalid('IPAM.Config takes at most one subnet');
    const [config] = configs;
    if (config !== undefined) {
      if (!isObject(config)) throw invalid('IPAM.Config[0] must be an object');
      if (config.IPRange) throw invalid('--ip-range is not supported: task addresses come from the whole subnet');
      if (config.Subnet !== undefined && typeof config.Subnet !== 'string') throw invalid('IPAM.Config[0].Subnet must be a string');
      if (config.Gateway !== undefined && typeof config.Gateway !== 'string') throw invalid('IPAM.Config[0].Gateway must be a string');
      if (config.Gateway && !config.Subnet) throw invalid('--gateway needs --subnet');
      subnet = config.Subnet || undefined;
      gateway = config.Gateway || undefined;
    }
  }
  return {
    name: Name,
    subnet,
    gateway,
    attachable: body.Attachable === true,
    internal: body.Internal === true,
    labels: Labels ?? {},
    options: Options ?? {},
  };
}

const BUILTIN = (n: NetworkRow) => n.ingress;

export const networkRoutes = new Hono<AppEnv>()
  .get('/networks', async (c) => {
    const { cluster, deps } = c.var;
    const filters = parseFilters(c.req.query('filters'), NETWORK_FILTERS);
    const rows = await deps.database.db.select().from(networks).where(eq(networks.clusterId, cluster.id));
    const result = rows.filter(
      (n) =>
        matchesAny(filters.get('id'), (v) => n.id.startsWith(v)) &&
        matchesAny(filters.get('name'), (v) => n.name.includes(v)) &&
        matchesAny(filters.get('driver'), (v) => v === 'overlay') &&
        matchesAny(filters.get('scope'), (v) => v === 'swarm') &&
        matchesAny(filters.get('type'), (v) => (v === 'builtin') === BUILTIN(n)) &&
        matchesLabels(filters.get('label'), n.labels),
    );
    return jsonOk(result.map(toDockerNetwork));
  })
  .get('/networks/:ref', async (c) => {
    const { cluster, deps } = c.var;
    return jsonOk(toDockerNetwork(await findNetwork(deps.database.db, cluster.id, c.req.param('ref'))));
  })
  .post('/networks/create', async (c) => {
    const { cluster, deps } = c.var;
    const request = networkRequest(await readJsonObject(c));
    const row = await writeCluster(deps, cluster.id, async (tx) => {
      const fresh = (await tx.query.clusters.findFirst({ where: (t, { eq: is }) => is(t.id, cluster.id) }))!;
      return createNetwork(tx, cluster.id, fresh.dataPath, request, deps.now());
    });
    return jsonOk({ Id: row.id, Warning: '' }, 201);
  })
  .delete('/networks/:ref', async (c) => {
    const { cluster, deps } = c.var;
    await writeCluster(deps, cluster.id, async (tx) => removeNetwork(tx, await findNetwork(tx, cluster.id, c.req.param('ref')), deps.now()));
    return new Response(null, { status: 204 });
  })
  .post('/networks/:ref/connect', () => {
    throw invalid('containers are not connected to swarm networks one by one here; attach a service with --network');
  })
  .post('/networks/:ref/disconnect', () => {
    throw invalid('containers are not disconnected from swarm networks one by one here; use docker service update --network-rm');
  });
