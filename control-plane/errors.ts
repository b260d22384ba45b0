import type { Context } from 'hono';

const STATUS = {
  invalid: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  gone: 410,
  precondition: 412,
  too_large: 413,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof STATUS;

/** The one error type: what went wrong, said so a user knows what to do. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  get status(): (typeof STATUS)[ErrorCode] {
    return STATUS[this.code];
  }
}

export const invalid = (message: string) => new ApiError('invalid', message);
export const notFound = (message: string) => new ApiError('not_found', message);
export const conflict = (message: string) => new ApiError('conflict', message);

/**
 * Docker's error shape. The CLI compares Content-Type literally with "application/json", so the
 * header is set by hand rather than through c.json(), which appends a charset.
 */
export function errorResponse(status: number, message: string): Response {
  return new Response(JSON.stringify({ message }), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

export function onError(err: Error, _c: Context): Response {
  if (err instanceof ApiError) return errorResponse(err.status, err.message);
  if (err instanceof SyntaxError) return errorResponse(400, `invalid JSON body: ${err.message}`);
  console.error('unhandled error', err);
  return errorResponse(500, 'internal error; the request changed nothing, try again');
}
