import { invalid } from '../errors.ts';
import { isTrue } from '../docker-api/query.ts';

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


/** `query` reads one query parameter; this module knows no HTTP framework. */
export function parseLogOptions(query: (name: string) => string | undefined): LogOptions {
  const tailRaw = query('tail') ?? 'all';
  if (tailRaw !== 'all' && tailRaw !== '' && !/^\d+$/.test(tailRaw)) throw invalid(`invalid tail '${tailRaw}': expected a number of lines or "all"`);
  const sinceRaw = query('since') ?? '';
  const since = sinceRaw === '' ? null : Number(sinceRaw);
  if (since !== null && !Number.isFinite(since)) throw invalid(`invalid since '${sinceRaw}': expected a Unix timestamp`);
  const opts = {
    follow: isTrue(query('follow')),
    tail: tailRaw === 'all' || tailRaw === '' ? null : Number(tailRaw),
    timestamps: isTrue(query('timestamps')),
    details: isTrue(query('details')),
    since: since && since > 0 ? since : null,
    stdout: isTrue(query('stdout')),
    stderr: isTrue(query('stderr')),
  };
  if (!opts.stdout && !opts.stderr) throw invalid('Bad parameters: you must choose at least one stream');
  return opts;
}
