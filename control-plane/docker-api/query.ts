import type { Context } from 'hono';
import { invalid } from '../errors.ts';

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

const GO_DURATION = /^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A point in time as dockerd takes one for `since` and `until` (timetypes.GetTimestamp): Unix
 * seconds with an optional fraction, a Go duration back from now (`10m`, `1h30m`), or an RFC 3339
 * date or time. Milliseconds; undefined when absent.
 */
export function dockerTime(name: string, value: string | undefined, now: number): number | undefined {
  const v = (value ?? '').trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (GO_DURATION.test(v)) {
    let ms = 0;
    for (const [, amount, unit] of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(amount) * UNIT_MS[unit!]!;
    return now - Math.round(ms);
  }
  const parsed = Date.parse(v);
  if (Number.isNaN(parsed)) throw invalid(`invalid ${name} '${v}': expected Unix seconds, a duration such as 10m, or an RFC 3339 time`);
  return parsed;
}
