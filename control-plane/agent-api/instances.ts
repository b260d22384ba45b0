import type { Reader } from '../db/database.ts';
import { liveInstanceUrls } from '../orchestrator/instances.ts';
import { isLocalUrl } from './join-request.ts';

/**
 * The control-plane URLs a cluster's agents may move to when theirs fails: the live registered
 * instances and the one answering (on Workers the only one, which registers nothing). A loopback
 * URL reaches nothing from another host, so only a local cluster (whose own URL is loopback, every
 * agent on this machine) is given those. Full URLs, compared as given: scheme and port included.
 */
export async function agentInstanceUrls(db: Reader, opts: { ttlMs: number; ownUrl: string; clusterUrl: string }): Promise<string[]> {
  const urls = new Set(await liveInstanceUrls(db, opts.ttlMs));
  if (opts.ownUrl) urls.add(opts.ownUrl);
  const local = isLocalUrl(opts.clusterUrl);
  return [...urls].filter((url) => local || !isLocalUrl(url));
}
