import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ERROR_CODES, type ErrorCode, ProtocolError } from '../protocol/errors.ts';
import { AGENT_PREFIX } from '../protocol/agent-api.ts';
import type { Logger } from '../protocol/log.ts';
import { isDatabaseBusy } from './db/faults.ts';

export type { ErrorCode };

const STATUS: Record<ErrorCode, number> = {
  invalid: 400,
  unauthorized: 401,
  credential_revoked: 401,
  not_found: 404,
  conflict: 409,
  gone: 410,
  precondition: 412,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** The one error type: what went wrong, said so a user knows what to do. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds to wait before trying again (429's Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    // What the user did or may do again, not where the code was: no stack to capture, which was a
    // tenth of what a refused request of a flood cost. An internal error keeps its stack.
    const stackLimit = Error.stackTraceLimit;
    if (code !== 'internal') Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackLimit;
  }
  get status(): number {
    return STATUS[this.code];
  }
}

export const invalid = (message: string) => new ApiError('invalid', message);
export const notFound = (message: string) => new ApiError('not_found', message);
export const conflict = (message: string) => new ApiError('conflict', message);
/** A fair-share limit was reached: 429 with Retry-After, rounded up to whole seconds (at least 1). */
export const rateLimited = (message: string, retryAfterMs: number) =>
  new ApiError('rate_limited', message, Math.max(1, Math.ceil(retryAfterMs / 1000)));

/**
 * Docker's error shape. The CLI compares Content-Type literally with "application/json", so the
 * header is set by hand rather than through c.json(), which appends a charset. The agent API's
 * replies also carry the protocol's error code, which agents branch on.
 */
export function errorResponse(status: number, message: string, code?: ErrorCode, retryAfterSeconds?: number): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds);
  return new Response(JSON.stringify(code ? { message, code } : { message }), { status, headers });
}

const codeOfStatus = (status: number): ErrorCode => ERROR_CODES.find((code) => STATUS[code] === status) ?? (status >= 500 ? 'internal' : 'invalid');

/** The app's one error handler: every error becomes Docker's `{"message"}` with the right status. */
export function errorHandler(log: Logger) {
  return function onError(err: Error, c: Context): Response {
    const agent = c.req.path.startsWith(AGENT_PREFIX);
    const reply = (status: number, message: string, code: ErrorCode, retryAfter?: number) => errorResponse(status, message, agent ? code : undefined, retryAfter);
    if (err instanceof ApiError) return reply(err.status, err.message, err.code, err.retryAfterSeconds);
    if (err instanceof ProtocolError) return reply(400, err.message, 'invalid');
    if (err instanceof SyntaxError) return reply(400, `invalid JSON body: ${err.message}`, 'invalid');
    // A read that met another process's lock (writes say so themselves, see Database.write).
    if (isDatabaseBusy(err)) return reply(503, 'the database is locked by another process; try again', 'unavailable', 1);
    // Hono's own (a body limit, say): its status is the truth; its message is for the user.
    if (err instanceof HTTPException) return reply(err.status, err.message || 'request refused', codeOfStatus(err.status));
    log.error('unhandled error', { method: c.req.method, path: c.req.path, error: err });
    return reply(500, 'internal error; the request changed nothing, try again', 'internal');
  };
}
