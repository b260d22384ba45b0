import { afterEach, describe, expect, it } from 'vitest';
import { Notifier } from '../../control-plane/notifier.ts';

/** A waiter's promise with whether (and with what) it has resolved, to check without awaiting. */
function watch(p: Promise<number>) {
  const w = { done: false, index: undefined as number | undefined, promise: p };
  void p.then((i) => Object.assign(w, { done: true, index: i }));
  return w;
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('Notifier targeting', () => {
  let dbIndex = 10;
  let notifier: Notifier;
  afterEach(() => notifier?.close());

  /** A notifier whose "database" is at `dbIndex`, polled every 20 ms. */
  const make = (pollFromEachWaiter = false) => (notifier = new Notifier(async () => dbIndex, 20, { pollFromEachWaiter }));

  it('wakes a node waiter when a change names its node, and not when it names others', async () => {
    dbIndex = 10;
    make();
    const a = watch(notifier.waitForChange('c', 10, 5000, undefined, 'A'));
    const b = watch(notifier.waitForChange('c', 10, 5000, undefined, 'B'));
    dbIndex = 11;
    notifier.publish('c', 11, new Set(['A']));
    await tick(60); // several polls: they read 11, which was published here, and wake no one else
    expect(a).toMatchObject({ done: true, index: 11 });
    expect(b.done).toBe(false);
    dbIndex = 12;
    notifier.publish('c', 12, new Set(['B', 'X']));
    expect(await b.promise).toBe(12);
  });

  it('wakes everyone when the nodes are unknown; an empty set wakes only waiters without a node', async () => {
    dbIndex = 20;
    make();
    const a = watch(notifier.waitForChange('c', 20, 5000, undefined, 'A'));
    const any = watch(notifier.waitForChange('c', 20, 5000));
    dbIndex = 21;
    notifier.publish('c', 21, new Set());
    await tick(60);
    expect(a.done).toBe(false);
    expect(any).toMatchObject({ done: true, index: 21 });
    const b = watch(notifier.waitForChange('c', 21, 5000, undefined, 'B'));
    dbIndex = 22;
    notifier.publish('c', 22);
    expect(await a.promise).toBe(22);
    expect(await b.promise).toBe(22);
  });

  it('resolves with `since` when the wait times out or the signal aborts', async () => {
    dbIndex = 30;
    make();
    const started = Date.now();
    expect(await notifier.waitForChange('c', 30, 80, undefined, 'A')).toBe(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    const abort = new AbortController();
    const p = notifier.waitForChange('c', 30, 5000, abort.signal, 'A');
    abort.abort();
    expect(await p).toBe(30);
  });

  it('answers at once a waiter arriving after a change that concerns it, and only such a waiter', async () => {
    dbIndex = 41;
    make();
    notifier.publish('c', 41, new Set(['A']));
    // Both read index 40 before the publish and ask only now.
    expect(await notifier.waitForChange('c', 40, 5000, undefined, 'A')).toBe(41);
    const b = watch(notifier.waitForChange('c', 40, 5000, undefined, 'B'));
    await tick(60);
    expect(b.done).toBe(false);
  });

  it('answers at once a waiter older than the changes it remembers, whatever they concerned', async () => {
    dbIndex = 1000;
    make();
    for (let i = 1001; i <= 2000; i++) notifier.publish('c', i, new Set(['A']));
    dbIndex = 2000;
    expect(await notifier.waitForChange('c', 1001, 5000, undefined, 'B')).toBe(2000);
    const recent = watch(notifier.waitForChange('c', 1990, 5000, undefined, 'B'));
    await tick(60);
    expect(recent.done).toBe(false);
  });

  it('still wakes a node when its change is published after a later one', async () => {
    dbIndex = 50;
    make();
    const b = watch(notifier.waitForChange('c', 50, 5000, undefined, 'B'));
    dbIndex = 52;
    notifier.publish('c', 52, new Set(['A']));
    notifier.publish('c', 51, new Set(['B']));
    expect(await b.promise).toBe(52);
  });

  for (const pollFromEachWaiter of [false, true]) {
    it(`wakes everyone for an index another instance wrote${pollFromEachWaiter ? ' (pollFromEachWaiter)' : ''}`, async () => {
      dbIndex = 60;
      make(pollFromEachWaiter);
      const a = watch(notifier.waitForChange('c', 60, 5000, undefined, 'A'));
      const b = watch(notifier.waitForChange('c', 60, 5000, undefined, 'B'));
      dbIndex = 61;
      notifier.publish('c', 61, new Set(['A'])); // ours, and concerns A only
      await tick(60);
      expect(a.done).toBe(true);
      expect(b.done).toBe(false);
      // Another instance commits 62 and 63, and this one 64 (for A): 62 and 63 are not ours, so B wakes.
      dbIndex = 64;
      notifier.publish('c', 64, new Set(['A']));
      expect(b.done).toBe(false);
      expect(await b.promise).toBe(64);
    });
  }

  it('wakes everyone when one of its own indexes is read before it was published', async () => {
    dbIndex = 70;
    make();
    const b = watch(notifier.waitForChange('c', 70, 5000, undefined, 'B'));
    dbIndex = 71; // committed here, publish still on its way: the poll cannot tell whom it concerns
    expect(await b.promise).toBe(71);
    notifier.publish('c', 71, new Set(['A'])); // late, and already covered
    const b2 = watch(notifier.waitForChange('c', 71, 5000, undefined, 'B'));
    await tick(60);
    expect(b2.done).toBe(false);
  });

  it('tells subscribers of each new index once', async () => {
    dbIndex = 80;
    make();
    const seen: number[] = [];
    notifier.subscribe((_c, index) => seen.push(index));
    notifier.publish('c', 81, new Set());
    notifier.publish('c', 82, new Set(['A']));
    notifier.publish('c', 82, new Set(['A']));
    notifier.publish('c', 83);
    expect(seen).toEqual([81, 82, 83]);
  });
});
