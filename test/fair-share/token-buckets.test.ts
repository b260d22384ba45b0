import { describe, expect, it } from 'vitest';
import { KeyedSlots } from '../../control-plane/fair-share/keyed-slots.ts';
import { TokenBuckets } from '../../control-plane/fair-share/token-buckets.ts';

describe('TokenBuckets', () => {
  it('allows the burst, then the rate, and says how long to wait', () => {
    let now = 0;
    const buckets = new TokenBuckets(10, 5, () => now);
    for (let i = 0; i < 5; i++) expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(100);
    // Another key has its own bucket.
    expect(buckets.take('b')).toBe(0);
    now += 100;
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(100);
    now += 10_000;
    for (let i = 0; i < 5; i++) expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBeGreaterThan(0);
  });

  it('charges a cost (bytes), and a cost above the burst waits for a full bucket', () => {
    let now = 0;
    const buckets = new TokenBuckets(1000, 4000, () => now);
    expect(buckets.take('n', 3000)).toBe(0);
    expect(buckets.take('n', 3000)).toBe(2000);
    now += 2000;
    expect(buckets.take('n', 3000)).toBe(0);
    now += 10_000;
    expect(buckets.take('n', 1e9)).toBe(0);
    expect(buckets.take('n', 1)).toBe(1);
  });

  it('a rate of 0 is no limit', () => {
    const buckets = new TokenBuckets(0, 0);
    for (let i = 0; i < 1000; i++) expect(buckets.take('a')).toBe(0);
  });
});

describe('KeyedSlots', () => {
  it('refuses past the bound per key, and frees a slot once however often released', () => {
    const slots = new KeyedSlots(2);
    const a1 = slots.tryAcquire('a')!;
    slots.tryAcquire('a')!;
    expect(slots.tryAcquire('a')).toBeUndefined();
    expect(slots.tryAcquire('b')).toBeDefined();
    a1();
    a1();
    expect(slots.holding('a')).toBe(1);
    expect(slots.tryAcquire('a')).toBeDefined();
    expect(slots.tryAcquire('a')).toBeUndefined();
  });

  it('runs at most the bound at once and queues the rest in order', async () => {
    const slots = new KeyedSlots(3);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        slots.run('c', async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 2));
          order.push(i);
          running--;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(order).toHaveLength(20);
    expect(slots.holding('c')).toBe(0);
  });

  it('passes a freed slot to the first in the queue, not to a newcomer', async () => {
    const slots = new KeyedSlots(1);
    const started: string[] = [];
    const holder = slots.tryAcquire('k')!;
    const queued = slots.run('k', async () => void started.push('queued'));
    holder();
    // Arrives when the slot was just freed, before the queued one had its turn to run.
    const newcomer = slots.run('k', async () => void started.push('newcomer'));
    await Promise.all([queued, newcomer]);
    expect(started).toEqual(['queued', 'newcomer']);
    expect(slots.holding('k')).toBe(0);
  });
});
