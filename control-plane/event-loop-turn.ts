/**
 * Queues in this process (the serialised writes, a tenant's turns, woken long-polls' reads) hand
 * over to their next waiter here, never by resolving a promise alone. libSQL's file driver works
 * synchronously, so a handler that only awaits the database never waits on I/O: every step of it is
 * a microtask, and a queue whose waiters woke each other by promise drained in ONE task of the
 * event loop. A hundred queued writes or woken long-polls then kept every other tenant's request
 * unread for seconds. `setImmediate` runs after the loop has polled for I/O, so requests that
 * arrived meanwhile are read and answered between two waiters of a queue.
 */
const immediate: (fn: () => void) => void = globalThis.setImmediate ?? ((fn) => setTimeout(fn, 0));

/** Resolves in a later turn of the event loop, after pending I/O had its turn. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => immediate(resolve));
}

/** Calls `fn` in a later turn of the event loop, after pending I/O had its turn. */
export function inNextTurn(fn: () => void): void {
  immediate(fn);
}
