import { Gauge } from '../../protocol/metrics.ts';

/**
 * This process's memory, split where it goes: what is resident in all, the JavaScript heap (what
 * is live in it and what it holds from the system), and memory outside it that JavaScript objects
 * own (buffers). Resident memory beyond heap and external is native: sockets, TLS state, malloc.
 * Names as prom-client's default metrics, so existing dashboards read them. None where the
 * runtime has no `process.memoryUsage` (Workers: an isolate does not see its process).
 */
export function processMemoryGauges(): Gauge[] {
  if (typeof globalThis.process?.memoryUsage !== 'function') return [];
  let usage: NodeJS.MemoryUsage;
  try {
    usage = process.memoryUsage();
  } catch {
    return [];
  }
  const gauge = (name: string, help: string, value: number) => {
    const g = new Gauge(name, help);
    g.set({}, value);
    return g;
  };
  return [
    gauge('process_resident_memory_bytes', 'Resident memory of this control plane process.', usage.rss),
    gauge('nodejs_heap_size_used_bytes', 'JavaScript heap in use (live objects and garbage not yet collected).', usage.heapUsed),
    gauge('nodejs_heap_size_total_bytes', 'JavaScript heap reserved from the system.', usage.heapTotal),
    gauge('nodejs_external_memory_bytes', 'Memory outside the JavaScript heap owned by JavaScript objects (buffers).', usage.external),
  ];
}
