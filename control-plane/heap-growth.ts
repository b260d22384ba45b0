import { setFlagsFromString } from 'node:v8';

/**
 * Holds the JavaScript heap to `percent` above what the last full collection kept (0: V8's own
 * choice). Every waiting long-poll's objects live for its whole wait, so they reach the old
 * generation and die there when it ends; V8 let that generation grow to 1.7-1.9 times its live
 * objects before collecting it, so with thousands of agents waiting nearly as much dead poll state
 * sat in the heap as live (issue 13: heap in use 105 MiB before a full collection, 53 after, at
 * 1,000 agents). V8 reads the flag at each collection, so setting it once started takes effect.
 * The price is more full collections: CPU for memory (README, HEAP_GROWTH_PERCENT).
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
