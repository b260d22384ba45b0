/**
 * Fair sharing (issue 11, item 4): what one noisy tenant costs a quiet one. A real control plane
 * process with two tenants; the quiet one lists its services (`GET /services`, one after another)
 * while the noisy one
 *   (a) sends 2,000 long-polls from ONE node credential and wakes them with one change, and
 *   (b) creates 1,000 services, 50 requests in flight;
 * against the same with no load. Each scenario runs on a fresh control plane with the default
 * limits; BENCH_NO_LIMITS=1 runs them with the limits off, which is how the findings were made.
 * Prints the quiet tenant's p50/p99 and the noisy tenant's answers. Goal: p99 under 100 ms.
 * `--quick`: 200 long-polls, a 50-service burst.
 */
import { quick, recordMetric, runWhenMain } from './results.ts';
import { type Latencies, longPollFlood, quietLatency, residentMiB, serviceBurst, startTwoTenants, type TwoTenants } from '../test/harness/noisy-tenant.ts';

const NO_LIMITS = {
  API_REQUESTS_PER_SEC: '0',
  API_CONCURRENT_PER_CLUSTER: '0',
  NODE_REQUESTS_PER_SEC: '0',
  LONG_POLLS_PER_NODE: '0',
  ASSIGNMENT_READS_PER_CLUSTER: '100000',
  SERVICES_PER_CLUSTER: '0',
};

const fmt = (l: Latencies) => `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(0)} ms (${l.count} requests)`;

const POLLS = quick ? 200 : 2000;
const SERVICES = quick ? 50 : 1000;
const MIN_SAMPLES = quick ? 20 : 100;

async function scenario(name: string, metric: string, load: (t: TwoTenants) => Promise<{ answered: Record<number, number>; ms: number }> | undefined) {
  const t = await startTwoTenants(process.env.BENCH_NO_LIMITS === '1' ? NO_LIMITS : {});
  try {
    const rssBefore = residentMiB(t.cp);
    let result: ReturnType<typeof load>;
    const idle = () => new Promise((r) => setTimeout(r, quick ? 1_000 : 5_000));
    const quiet = await quietLatency(t, () => (result = load(t)) ?? idle(), MIN_SAMPLES);
    const noisy = await result;
    const params = { scenario: name, limits: process.env.BENCH_NO_LIMITS === '1' ? 'off' : 'default', samples: quiet.count };
    recordMetric(`fairness.${metric}_quiet_p50_ms`, quiet.p50, 'ms', params);
    recordMetric(`fairness.${metric}_quiet_p99_ms`, quiet.p99, 'ms', params);
    const rss = `RSS ${rssBefore.toFixed(0)} → ${residentMiB(t.cp).toFixed(0)} MiB`;
    console.log(`${name.padEnd(22)} quiet GET /services ${fmt(quiet)}${noisy ? `; noisy answers ${JSON.stringify(noisy.answered)} in ${(noisy.ms / 1000).toFixed(1)} s` : ''}; ${rss}`);
  } finally {
    await t.close();
  }
}

export async function run(): Promise<void> {
  console.log(`\n# fairness: a quiet tenant's GET /services while another floods${process.env.BENCH_NO_LIMITS === '1' ? ' (limits OFF)' : ' (default limits)'}`);
  // `--quick` leaves out the baseline: it runs nothing the loaded scenarios do not.
  if (!quick) await scenario('no load', 'no_load', () => undefined);
  await scenario(`${POLLS} long-polls`, 'longpoll_flood', (t) => longPollFlood(t, POLLS));
  await scenario(`${SERVICES}-service burst`, 'service_burst', (t) => serviceBurst(t, SERVICES));
}

runWhenMain(import.meta.url, run);
