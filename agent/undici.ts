/**
 * undici's Agent and `request`, loaded from undici's own modules rather than its index. The index
 * also loads fetch, WebSocket, EventSource, the HTTP cache and the mocks, none of which the agent
 * calls: bundled, they made the idle agent about 40 MiB larger (issue 15). The wiring is undici's
 * own (its index puts the request API on every dispatcher); undici is pinned to one version in
 * package.json, and the packaging test runs the bundle that uses this.
 */
import type { Dispatcher } from 'undici';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import dispatcherApi from 'undici/lib/api/index.js';
import UndiciDispatcher from 'undici/lib/dispatcher/dispatcher.js';

Object.assign(UndiciDispatcher.prototype, dispatcherApi);

export const Agent = UndiciAgent;
export type Agent = InstanceType<typeof UndiciAgent>;

const defaultAgent = new Agent();

/** undici's `request(url, options)`, on the given dispatcher or this module's own. */
export function request(
  url: string,
  { dispatcher = defaultAgent, method = 'GET', ...options }: Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod; dispatcher?: Agent },
): Promise<Dispatcher.ResponseData> {
  const { origin, pathname, search } = new URL(url);
  return dispatcher.request({ ...options, method, origin, path: `${pathname}${search}` });
}
