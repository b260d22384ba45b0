import { get } from 'node:http';

/**
 * One HTTP GET on a fresh connection (what the routing mesh balances is connections): the body,
 * trimmed. The test containers serve their own hostname at /x.
 */
export function fetchOnce(host: string, port: number, opts: { path?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: opts.path ?? '/x', agent: false, timeout: opts.timeoutMs ?? 5_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body.trim()));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** `n` requests one after another, each on its own connection: how many each server answered. */
export async function countServers(host: string, port: number, n: number, opts: { timeoutMs?: number } = {}): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const who = await fetchOnce(host, port, opts);
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  return counts;
}
