import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { ApiError } from '../errors.ts';
import { clusterForApiKey } from '../swarm/clusters.ts';

/** Reads `Authorization: Bearer <key>`; undefined when absent or of another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * Authenticates the public API: the key names exactly one cluster, and every handler after this
 * one sees only that cluster. The docker CLI sends the key through config.json's HttpHeaders.
 */
export function apiKeyAuth(): MiddlewareHandler<AppEnv> {
  return async function apiKeyAuth(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) {
      throw new ApiError(
        'unauthorized',
        'missing API key: send "Authorization: Bearer <key>" (for the docker CLI, set DOCKER_CONFIG to the directory the control plane printed)',
      );
    }
    const cluster = await clusterForApiKey(c.var.deps.database.db, token);
    if (!cluster) {
      throw new ApiError(
        'unauthorized',
        'invalid API key: it is unknown or revoked; use the DOCKER_CONFIG the control plane printed, or create a key with the admin API',
      );
    }
    c.set('cluster', cluster);
    await next();
  };
}

/** Swarm endpoints answer as dockerd does on a node that is not in a swarm until `docker swarm init`. */
export function requireSwarm(): MiddlewareHandler<AppEnv> {
  return async function requireSwarm(c, next) {
    if (c.var.cluster.initializedAt === null) {
      throw new ApiError(
        'unavailable',
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
      );
    }
    await next();
  };
}
