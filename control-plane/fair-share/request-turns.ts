import { inNextTurn } from '../event-loop-turn.ts';

/**
 * Every request starts in turns, one per turn of the event loop, taken round the principals that
 * have requests waiting (the credential a request carries). libSQL's file driver is synchronous,
 * so a request, once started, runs to its answer without yielding; Node reads every socket that
 * became readable in one poll of the loop and would run all their requests back to back in it.
 * 400 connections of one flooding credential then made one poll cost 300–700 ms of work, and
 * another tenant's request read in that poll waited for all of it. Taken in turns, a poll only
 * reads and parses; the requests then start one per turn, round the principals, so the quiet
 * tenant's one request goes next after at most one of the flood's, whatever the flood's size; and
 * since a flooding connection sends its next request only once answered, the flood is read at the
 * pace it is served rather than all at once.
 */
export class RequestTurns {
  /** Waiting requests per principal, in the order the principals' turns come round. */
  private readonly waiting = new Map<string, Array<() => void>>();
  private scheduled = false;

  /** Resolves in `principal`'s next turn. */
  take(principal: string): Promise<void> {
    return new Promise((start) => {
      const queue = this.waiting.get(principal);
      if (queue) queue.push(start);
      else this.waiting.set(principal, [start]);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    inNextTurn(() => this.startNext());
  }

  /** Starts the first principal's oldest request and sends that principal to the back of the round. */
  private startNext(): void {
    this.scheduled = false;
    const next = this.waiting.entries().next();
    if (next.done) return;
    const [principal, queue] = next.value;
    const start = queue.shift()!;
    this.waiting.delete(principal);
    if (queue.length > 0) this.waiting.set(principal, queue);
    start();
    if (this.waiting.size > 0) this.schedule();
  }
}
