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
 *
 * A turn starts one request of each principal waiting (up to `perTurn` principals), not one
 * request in all: the turns of a busy process are long (a leader's pass, a batch of reports written
 * in one transaction), and at one request a turn a thousand agents' heartbeats, each from its own
 * credential, waited a thousand of them, over a minute at 100,000 tasks, and their nodes were marked
 * down. A principal's crowd still starts one request a turn; a new principal waits at most one
 * turn's round before its first.
 */
export class RequestTurns {
  /** Waiting requests per principal, in the order the principals' turns come round. */
  private readonly waiting = new Map<string, Array<() => void>>();
  private scheduled = false;

  /**
   * `perTurn`: the most principals whose requests start in one turn; `perPrincipal`: how many of
   * one principal's start in its turn.
   */
  constructor(
    private readonly perTurn = 256,
    private readonly perPrincipal = 1,
  ) {}

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
    inNextTurn(() => this.startRound());
  }

  /**
   * Starts the oldest `perPrincipal` requests of each of the first `perTurn` principals, in their
   * order, and sends those principals to the back of the round.
   */
  private startRound(): void {
    this.scheduled = false;
    const round: string[] = [];
    for (const principal of this.waiting.keys()) if (round.push(principal) === this.perTurn) break;
    for (const principal of round) {
      const queue = this.waiting.get(principal)!;
      const starts = queue.splice(0, this.perPrincipal);
      this.waiting.delete(principal);
      if (queue.length > 0) this.waiting.set(principal, queue);
      for (const start of starts) start();
    }
    if (this.waiting.size > 0) this.schedule();
  }
}
