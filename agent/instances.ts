/**
 * Which control-plane instance the agent talks to. Every instance on the cluster's database
 * serves every node (the same signing keys verify its credential), so when the one in use cannot
 * be reached the agent moves to another live one instead of waiting for it, as Swarm's workers
 * move between managers. URLs are kept and compared whole (scheme, host, port) as the control
 * plane gives them.
 */
import type { Logger } from '../protocol/log.ts';

/**
 * The URL to try after `failed` could not be reached: the next one after it in the live list,
 * round the list, with the join URL (the token's, or `host:port` given at join) as the last
 * resort. A URL not in the list is left for the list's first; with nothing else, `failed` again.
 */
export function nextControlPlane(failed: string, live: readonly string[], joinUrl: string): string {
  const candidates = [...new Set([...live, joinUrl])];
  return candidates[(candidates.indexOf(failed) + 1) % candidates.length]!;
}

/** What the state dir keeps of it, so a restarted agent starts where it left off. */
export interface SavedControlPlanes {
  clusterId: string;
  joinUrl: string;
  current: string;
  live: string[];
}

export class ControlPlaneInstances {
  private live: string[] = [];
  private currentUrl: string;

  constructor(
    readonly joinUrl: string,
    private readonly opts: { clusterId?: string; saved?: SavedControlPlanes; save?: (s: SavedControlPlanes) => void; log?: Logger } = {},
  ) {
    const saved = opts.saved;
    // Only what was learnt in this cluster through the same join URL: a new join starts afresh.
    const usable = saved && saved.clusterId === opts.clusterId && saved.joinUrl === joinUrl;
    this.live = usable ? saved.live : [];
    this.currentUrl = usable ? saved.current : joinUrl;
  }

  get current(): string {
    return this.currentUrl;
  }

  /**
   * A request to `url` found it unreachable: the next request goes to the next instance. Requests
   * that failed together move once (the others find the current URL changed already).
   */
  unreachable(url: string): void {
    if (url !== this.currentUrl) return;
    const next = nextControlPlane(url, this.live, this.joinUrl);
    if (next === url) return;
    this.currentUrl = next;
    this.opts.log?.warn('control plane instance unreachable; moving to the next one', { from: url, to: next, known: this.live.length });
    this.persist();
  }

  /** The live instances from an assignments answer; the one in use stays while it answers. */
  learn(urls: readonly string[]): void {
    if (urls.length === this.live.length && urls.every((u, i) => u === this.live[i])) return;
    this.live = [...urls];
    this.opts.log?.debug('control plane instances', { urls: this.live });
    this.persist();
  }

  private persist() {
    if (this.opts.clusterId === undefined) return;
    this.opts.save?.({ clusterId: this.opts.clusterId, joinUrl: this.joinUrl, current: this.currentUrl, live: this.live });
  }
}
