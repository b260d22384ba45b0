/** A waiting long-poll: ended early (its signal aborts) when a newer one of its node takes its place. */
export interface LongPoll {
  signal: AbortSignal;
  end(): void;
}

/**
 * Each node's waiting long-polls, in this instance's memory, at most `limit` (0: no limit). A new
 * one past the limit ends the oldest, which answers at once with what it has, rather than being
 * refused: an agent keeps one long-poll, so an older one's client is most likely gone, cut off by
 * a partition TCP has not noticed, and refusing the new poll would leave a healed agent without
 * its assignments until the stale ones time out. Many at once from one credential still cost
 * that node alone: its request rate bounds them, and only `limit` ever wait.
 */
export class LongPolls {
  private readonly waiting = new Map<string, AbortController[]>();

  constructor(private readonly limit: number) {}

  begin(nodeId: string): LongPoll {
    const list = this.waiting.get(nodeId) ?? [];
    this.waiting.set(nodeId, list);
    if (this.limit > 0) while (list.length >= this.limit) list.shift()!.abort();
    const poll = new AbortController();
    list.push(poll);
    return {
      signal: poll.signal,
      end: () => {
        const i = list.indexOf(poll);
        if (i >= 0) list.splice(i, 1);
        if (!list.length && this.waiting.get(nodeId) === list) this.waiting.delete(nodeId);
      },
    };
  }
}
