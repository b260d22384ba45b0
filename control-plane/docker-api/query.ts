import type { Context } from 'hono';

/**
 * A boolean query parameter as dockerd reads one (httputils.BoolValue): absent, "", "0", "no",
 * "false" and "none" are false, in any case and with spaces around; anything else is true.
 * SDKs send `True`, `1` or `yes`; the CLI sends `true` or `1`.
 */
export function isTrue(value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase();
  return !(v === '' || v === '0' || v === 'no' || v === 'false' || v === 'none');
}

export const boolParam = (c: Context, name: string): boolean => isTrue(c.req.query(name));
