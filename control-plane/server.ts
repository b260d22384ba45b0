import { serve } from '@hono/node-server';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { loadKeyRing } from './auth/kek-file.ts';
import { sealSigningKeysAtRest } from './auth/signing-keys.ts';
import { resealDataKeysAtRest } from './auth/data-keys.ts';
import { bootstrap, writeDockerCa } from './bootstrap.ts';
import { loadConfig } from './config.ts';
import { limitHeapGrowth } from './heap-growth.ts';
import { openDatabase } from './db/open.ts';
import { buildDeps } from './deps.ts';
import { InstanceRegistration } from './orchestrator/instances.ts';
import { LeaderLoop } from './orchestrator/leader.ts';
import { takeConnections } from './tls/connection-intake.ts';
import { prepareNodeTls } from './tls/node-tls.ts';

/** The control plane on Node: the app, its database, and the leader loop on timers. */
async function main() {
  // The database holds every cluster's signing key and the data dir the CLI's API key: nothing
  // this process writes is for other users of the host.
  process.umask(0o077);
  const config = loadConfig();
  limitHeapGrowth(config.heapGrowthPercent);
  const keyRing = await loadKeyRing(config);
  const database = await openDatabase(config.libsqlUrl, config.libsqlAuthToken, config.db);
  let publicUrl = config.publicUrl ?? '';
  const tls = await prepareNodeTls(config, database);
  let server: ReturnType<typeof serve> | undefined;
  const deps = buildDeps(config, database, keyRing, {
    publicUrl: () => publicUrl,
    trust: tls?.trust,
    coverAdvertiseHost: async (host) => tls?.cover(host, (context) => (server as HttpsServer | undefined)?.setSecureContext(context)),
  });
  const { log } = deps;
  const sealing = await sealSigningKeysAtRest(database, keyRing);
  if (sealing.sealed || sealing.resealed) {
    log.info(`signing keys at rest: sealed ${sealing.sealed} stored in plain text, ${sealing.resealed} again with the current key-encryption key ${keyRing.currentId}`);
  }
  const resealedDataKeys = await resealDataKeysAtRest(database, keyRing);
  if (resealedDataKeys) log.info(`secrets' data keys: ${resealedDataKeys} sealed again with the current key-encryption key ${keyRing.currentId}`);
  if (sealing.sealed && !sealing.scrubbed) log.warn('the replaced plain-text signing keys may linger in free database pages: run VACUUM on the database');
  const { created, dockerConfigDir } = await bootstrap(database, keyRing, config.dataDir, Date.now());
  if (tls?.caPem) writeDockerCa(dockerConfigDir, tls.caPem);
  const app = createApp(deps);
  let registration: InstanceRegistration | undefined;

  const listen = { fetch: app.fetch, port: config.port, hostname: config.host };
  const https = tls ? { createServer: createHttpsServer, serverOptions: tls.secureContext } : {};
  server = serve({ ...listen, ...https }, (info: AddressInfo) => {
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    publicUrl ||= `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${info.port}`;
    const url = new URL(publicUrl);
    // Agents learn this URL with their assignments and move here when the instance they use fails.
    registration = new InstanceRegistration(deps, publicUrl);
    registration.start();
    log.info(`control plane ${config.instanceId} listening on ${info.address}:${info.port}, database ${config.libsqlUrl.replace(/\?.*/, '')}`);
    if (created) log.info('first start: created the default tenant, cluster and API key');
    log.info(tls ? `serving HTTPS: ${tls.describe}` : 'serving plain HTTP (TLS=off): API keys and join tokens cross the network in the clear');
    // The lines a user pastes into a shell: plain, on stdout, whatever the log format.
    console.log('point the docker CLI at it with:');
    console.log(`export DOCKER_CONFIG=${dockerConfigDir}`);
    console.log(`export DOCKER_HOST=tcp://${url.host.replace(/:\d+$/, '')}:${info.port}`);
    if (tls) console.log('export DOCKER_TLS_VERIFY=1');
    if (tls?.caPem) console.log(`export DOCKER_CERT_PATH=${dockerConfigDir}`);
  });
  if (tls) takeConnections(server as HttpsServer, (address) => deps.fairShare.handshakeTurn(address));
  // A port in use (or not ours to take) is the user's to fix: say which, in one line, and stop.
  server.on('error', (err: NodeJS.ErrnoException) => {
    const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'needs privileges this process lacks' : `failed: ${err.message}`;
    log.error(`control plane cannot listen: ${config.host}:${config.port} ${why}; set PORT (or HOST) to another`);
    process.exit(1);
  });
  // Long-polls hold requests open for up to the wait; keep Node from cutting them.
  server.setTimeout?.(0);

  const leader = new LeaderLoop(deps, {
    onLeadership: (lease) => log.info(lease ? `leader: holding the lease at epoch ${lease.epoch}` : 'leader: not holding the lease'),
    onCommit: config.log.commits ? (c) => log.info(`commit cluster=${c.clusterId} index=${c.index} epoch=${c.epoch} placed=${c.placed}`) : undefined,
  });
  leader.start();

  const shutdown = async () => {
    // The pass finished, the lease given back and this instance deregistered, within the grace: on
    // a database that does not answer (a remote one gone quiet) a stop hung for minutes, and the
    // lease and the registration expire by themselves.
    const graceful = (async () => {
      await leader.stop();
      await registration?.stop();
    })().then(
      () => true,
      (err: unknown) => (log.error('shutdown: stopping the leader failed', { error: err }), true),
    );
    const grace = new Promise<false>((resolve) => setTimeout(resolve, config.shutdownGraceMs, false).unref());
    if (!(await Promise.race([graceful, grace]))) {
      log.warn(`shutdown: the leader's pass or the database did not finish within SHUTDOWN_GRACE_MS (${config.shutdownGraceMs} ms); exiting without them, the lease expires by itself`);
    }
    deps.notifier.close();
    server.close();
    database.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

// Before the config is read there is no logger to use: a failed start is one plain line on stderr.
main().catch((err) => {
  // drizzle wraps driver errors ("Failed query: ..."); the cause says what is actually wrong.
  const cause = (err as { cause?: Error }).cause;
  console.error(`control plane failed to start: ${(err as Error).message}${cause ? `\n  cause: ${cause.message}` : ''}`);
  process.exit(1);
});
