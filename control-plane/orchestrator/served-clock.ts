/**
 * The time this instance was able to serve, by which the leader judges a node silent. A heartbeat
 * the instance did not read (its event loop stood still: saturated, descheduled by a loaded host,
 * paused) is not the node's silence: wall time the loop lagged past a tolerance does not count,
 * and a new leader counts from when it became leader (swarmkit and Nomad give a new leader a
 * grace before they mark nodes down). A node is marked down once it has been silent for the grace
 * in served time.
 *
 * The clock ticks on a timer; each tick credits the wall time since the last one, but at most a
 * tick and the tolerance, so a loop that lagged seconds credits a fraction of them.
 */
export interface ServedClockOptions {
  /** The timer's period. */
  tickMs: number;
  /** Lag of one tick still counted in full: the delay a busy but healthy loop shows. */
  toleranceMs: number;
}

interface Sample {
  /** Wall time (the clock heartbeats are stamped with). */
  at: number;
  /** Served time up to `at`. */
  served: number;
}

export class ServedClock {
  private samples: Sample[] = [];
  private served = 0;
  private last: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The longest grace asked for: the samples reach back that far in served time. */
  private longestGraceMs = 0;

  constructor(
    readonly options: ServedClockOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Served time starts anew (leadership taken): no node is silent before a whole grace is served. */
  restart(): void {
    this.samples = [{ at: this.now(), served: 0 }];
    this.served = 0;
    this.last = performance.now();
  }

  /** Ticks on its own timer until stop(). */
  start(): void {
    this.restart();
    const tick = () => {
      const t = performance.now();
      this.credit(t - (this.last ?? t));
      this.last = t;
      this.timer = setTimeout(tick, this.options.tickMs);
      this.timer.unref?.();
    };
    this.timer = setTimeout(tick, this.options.tickMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** One tick, `elapsedMs` of wall time after the last: credits what the instance could serve of it. */
  credit(elapsedMs: number): void {
    this.served += Math.max(0, Math.min(elapsedMs, this.options.tickMs + this.options.toleranceMs));
    this.samples.push({ at: this.now(), served: this.served });
    // Only the newest sample at least the longest grace back is ever needed, and the ones after it.
    let keep = 0;
    while (keep + 1 < this.samples.length && this.served - this.samples[keep + 1]!.served >= this.longestGraceMs) keep++;
    if (keep) this.samples.splice(0, keep);
  }

  /**
   * The wall time before which a node's last heartbeat means it has been silent for `graceMs` of
   * served time (never later than now less the grace); -Infinity while less than a grace has been
   * served since the start: no node is silent yet. A grace longer than any asked before counts
   * from the samples kept, so it is judged late (never early) the first time.
   */
  silentBefore(graceMs: number): number {
    this.longestGraceMs = Math.max(this.longestGraceMs, graceMs);
    const first = this.samples[0];
    if (!first || this.served - first.served < graceMs) return -Infinity;
    // The newest sample a whole grace of served time back; at most a tick earlier than exact.
    let i = 0;
    while (i + 1 < this.samples.length && this.served - this.samples[i + 1]!.served >= graceMs) i++;
    return Math.min(this.samples[i]!.at, this.now() - graceMs);
  }
}
