import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { ApiError, errorHandler } from '../../control-plane/errors.ts';
import { createLogger } from '../../protocol/log.ts';
import { ProtocolError } from '../../protocol/errors.ts';

/** The app's one error handler, on a small app whose routes throw what the real ones can. */
function appThrowing(err: Error) {
  const lines: string[] = [];
  const app = new Hono();
  app.onError(errorHandler(createLogger({ format: 'json', write: (l) => lines.push(l) })));
  app.all('*', () => {
    throw err;
  });
  return { app, lines };
}

async function reply(err: Error, path = '/v1.41/services') {
  const { app, lines } = appThrowing(err);
  const res = await app.request(`http://cp.test${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json(), lines };
}

describe('errorHandler', () => {
  it("keeps Hono's HTTPException status instead of turning it into a 500", async () => {
    const r = await reply(new HTTPException(429, { message: 'slow down' }));
    expect(r).toMatchObject({ status: 429, type: 'application/json', body: { message: 'slow down' }, lines: [] });
  });

  it('answers Docker API errors with {"message"} only, and agent API errors with the protocol code too', async () => {
    expect((await reply(new ApiError('conflict', 'service web already exists'))).body).toEqual({ message: 'service web already exists' });
    expect((await reply(new ApiError('credential_revoked', 'node credential revoked'), '/agent/v1/assignments')).body).toEqual({
      message: 'node credential revoked',
      code: 'credential_revoked',
    });
    expect(await reply(new ProtocolError('malformed log frame at byte 0'), '/agent/v1/logs/x')).toMatchObject({
      status: 400,
      body: { message: 'malformed log frame at byte 0', code: 'invalid' },
    });
  });

  it('logs an unexpected error through the structured logger and tells the client nothing of it', async () => {
    const r = await reply(new Error('secret detail of a bug'));
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('secret detail');
    expect(r.lines).toHaveLength(1);
    expect(JSON.parse(r.lines[0]!)).toMatchObject({ level: 'error', msg: 'unhandled error', path: '/v1.41/services', error: 'secret detail of a bug' });
  });
});
