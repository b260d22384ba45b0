/**
 * The error vocabulary of the agent protocol. Every error reply of the agent API is
 * `{"message": "...", "code": "<one of these>"}`; agents branch on `code`, never on message text.
 */
export const ERROR_CODES = [
  'invalid',
  'unauthorized',
  /** The node's credential was revoked (`docker node rm`, a newer join of the same node, or its cluster deleted): do not retry. */
  'credential_revoked',
  'not_found',
  'conflict',
  /** A log request the client has left: stop sending its logs. */
  'gone',
  'precondition',
  'too_large',
  /** A fair-share limit: wait the reply's Retry-After (seconds), then try again. */
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  message: string;
  code?: ErrorCode;
}

export const isErrorCode = (value: unknown): value is ErrorCode => (ERROR_CODES as readonly unknown[]).includes(value);

/** Bytes on the wire that do not follow the protocol (a malformed log frame). */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}
