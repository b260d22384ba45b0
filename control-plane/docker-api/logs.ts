import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { ApiError } from '../errors.ts';

/** `docker service logs`: filled in with the agent log channel. */
export const serviceLogRoutes = new Hono<AppEnv>().get('/services/:ref/logs', () => {
  throw new ApiError('unavailable', 'service logs are not available yet');
});
