import { describe, expect, it } from 'vitest';
import { ServedClock } from '../../control-plane/orchestrator/served-clock.ts';

/** A clock on a wall time the test moves, ticked by hand: `elapse(ms, lagged)` is one tick `ms` after the last. */
function clockAt(start = 1_000_000) {
  let wall = start;
  const clock = new ServedClock({ tickMs: 100, toleranceMs: 500 }, () => wall);
  clock.restart();
  // The leader asks at once (its sweep on taking the lease): the clock keeps samples that far back.
  clock.silentBefore(6000);
  const elapse = (ms: number) => {
    wall += ms;
    clock.credit(ms);
  };
  const run = (ms: number, tickMs = 100) => {
    for (let t = 0; t < ms; t += tickMs) elapse(tickMs);
  };
  return { clock, elapse, run, wall: () => wall };
}

describe('node silence in served time', () => {
  it('marks no node silent before a new leader has served a whole grace', () => {
    const c = clockAt();
    c.run(5900);
    expect(c.clock.silentBefore(6000)).toBe(-Infinity);
    c.run(100);
    // Exactly the grace back: a node that beat at the leadership's start is silent from now on.
    expect(c.clock.silentBefore(6000)).toBe(c.wall() - 6000);
  });

  it('follows wall time while the loop keeps pace, within a tick', () => {
    const c = clockAt();
    c.run(60_000);
    expect(c.clock.silentBefore(6000)).toBe(c.wall() - 6000);
    // Ticks up to the tolerance late still count in full.
    for (let i = 0; i < 100; i++) c.elapse(550);
    expect(c.clock.silentBefore(6000)).toBeGreaterThanOrEqual(c.wall() - 6000 - 550);
    expect(c.clock.silentBefore(6000)).toBeLessThanOrEqual(c.wall() - 6000);
  });

  it('does not count a stall: a node that beat just before it is not silent after it', () => {
    const c = clockAt();
    c.run(30_000);
    const lastBeat = c.wall() - 1000;
    // The loop stood still for 20 s (paused, or a host too loaded to run it): 600 ms of it counts.
    c.elapse(20_000);
    expect(lastBeat).toBeGreaterThanOrEqual(c.clock.silentBefore(6000));
    // Served again: 1 s + 0.6 s + 4.4 s makes the grace, so the node is silent from then on.
    c.run(4300);
    expect(lastBeat).toBeGreaterThanOrEqual(c.clock.silentBefore(6000));
    c.run(200);
    expect(lastBeat).toBeLessThan(c.clock.silentBefore(6000));
  });

  it('counts a saturated loop (every tick lags seconds) a fraction of its wall time', () => {
    const c = clockAt();
    c.run(10_000);
    const lastBeat = c.wall() - 50;
    // 2 s per tick: 600 ms of each counts, so a grace takes 10 ticks = 20 s of wall time.
    for (let i = 0; i < 9; i++) c.elapse(2000);
    expect(lastBeat).toBeGreaterThanOrEqual(c.clock.silentBefore(6000));
    c.elapse(2000);
    expect(lastBeat).toBeLessThan(c.clock.silentBefore(6000));
  });

  it('starts anew when leadership is taken again', () => {
    const c = clockAt();
    c.run(60_000);
    expect(c.clock.silentBefore(6000)).toBeGreaterThan(-Infinity);
    c.clock.restart();
    c.run(3000);
    expect(c.clock.silentBefore(6000)).toBe(-Infinity);
  });

  it('judges a grace longer than any asked before late, never early', () => {
    const c = clockAt();
    c.run(60_000);
    // The samples reach back 6 s: 20 s is not yet known to have passed for anyone.
    expect(c.clock.silentBefore(20_000)).toBe(-Infinity);
    c.run(20_000);
    expect(c.clock.silentBefore(20_000)).toBe(c.wall() - 20_000);
  });

  it('keeps only the samples it needs', () => {
    const c = clockAt();
    c.run(600_000);
    expect((c.clock as unknown as { samples: unknown[] }).samples.length).toBeLessThanOrEqual(62);
  });
});
