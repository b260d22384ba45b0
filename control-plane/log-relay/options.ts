import { invalid } from '../errors.ts';

/** Docker's log query options, checked as dockerd checks them. */
export interface LogOptions {
  follow: boolean;
  tail: number | null;
  timestamps: boolean;
  details: boolean;
  since: number | null;
  stdout: boolean;
  stderr: boolean;
}

const flag = (v: string | undefined) => v === '1' || v === 'true';

/** `query` reads one query parameter; this module knows no HTTP framework. */
export function parseLogOptions(query: (name: string) => string | undefined): LogOptions {
  const tailRaw = query('tail') ?? 'all';
  if (tailRaw !== 'all' && tailRaw !== '' && !/^\d+$/.test(tailRaw)) throw invalid(`invalid tail '${tailRaw}': expected a number of lines or "all"`);
  const sinceRaw = query('since') ?? '';
  const since = sinceRaw === '' ? null : Number(sinceRaw);
  if (since !== null && !Number.isFinite(since)) throw invalid(`invalid since '${sinceRaw}': expected a Unix timestamp`);
  const opts = {
    follow: flag(query('follow')),
    tail: tailRaw === 'all' || tailRaw === '' ? null : Number(tailRaw),
    timestamps: flag(query('timestamps')),
    details: flag(query('details')),
    since: since && since > 0 ? since : null,
    stdout: flag(query('stdout')),
    stderr: flag(query('stderr')),
  };
  if (!opts.stdout && !opts.stderr) throw invalid('Bad parameters: you must choose at least one stream');
  return opts;
}
