import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CLAIM_DIR, claimSlot, releaseSlot } from '../harness/hosts/claim.ts';
import { isolateRun } from '../harness/hosts/firewall.ts';
import { RunNames, SLOTS } from '../harness/hosts/names.ts';
import { createBridge, createHostNetwork } from '../harness/hosts/network.ts';
import { removeRun, runLeftovers } from '../harness/hosts/teardown.ts';

/**
 * A run killed before its afterAll (vitest killed, a CI timeout) leaves its claim, naming a dead
 * process, and its bridge, rules and namespaces. The next run that wants the slot removes them.
 */
let stale: RunNames | undefined;
afterAll(async () => {
  if (!stale) return;
  await removeRun(stale); // releases the stale claim too, if it is still this run's
});

it("removes a dead run's leftovers when it claims that run's slot", async () => {
  const dead = spawn('true');
  await new Promise((r) => dead.once('exit', r));
  const free = Array.from({ length: SLOTS }, (_, slot) => slot).find((slot) => !existsSync(join(CLAIM_DIR, `slot-${slot}.json`)));
  expect(free, 'a free slot').toBeDefined();
  stale = new RunNames(RunNames.randomPrefix(), free!);
  writeFileSync(join(CLAIM_DIR, `slot-${free}.json`), JSON.stringify({ prefix: stale.prefix, slot: free, pid: dead.pid }));
  await createBridge(stale);
  await isolateRun(stale);
  await createHostNetwork(stale, stale.host(1));
  const left = (await runLeftovers(stale)).map((l) => l.split(' ')[0]);
  expect(new Set(left)).toEqual(new Set(['namespace', 'link', 'iptables', 'slot']));

  const next = await claimSlot(RunNames.randomPrefix(), removeRun);
  try {
    expect(next.slot).toBe(free);
    expect(await runLeftovers(stale)).toEqual([]);
  } finally {
    releaseSlot(next);
  }
});
