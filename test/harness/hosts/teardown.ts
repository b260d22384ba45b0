import { existsSync, rmSync } from 'node:fs';
import { claimHeld, releaseSlot } from './claim.ts';
import { removeRunIsolation, runRulesLeft } from './firewall.ts';
import { cgroupsWithPrefix, mountsUnder, removeCgroupTree, unmountUnder } from './mounts.ts';
import type { RunNames } from './names.ts';
import { removeRunNetwork, runLinks, runNamespaces } from './network.ts';
import { killProcessesUnder, processesUnder } from './processes.ts';

/**
 * Removes everything of a run, found by its names, in the order that lets each step succeed:
 * processes (agents, control plane, engines, shims, containers), then the mounts the killed
 * engines leave, namespaces and bridge, the root namespace's rules, cgroups, the directory and
 * last the slot claim. Each step copes with its part being gone already, so this is idempotent,
 * works after a start that failed half way, and on what a killed run left behind. Every step is
 * tried; the errors are reported together at the end.
 */
export async function removeRun(names: RunNames): Promise<void> {
  const errors: string[] = [];
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  await step('processes', () => killProcessesUnder(names.baseDir));
  await step('mounts', () => unmountUnder(names.baseDir));
  await step('network', () => removeRunNetwork(names));
  await step('iptables', () => removeRunIsolation(names));
  await step('cgroups', () => {
    for (const dir of cgroupsWithPrefix(`${names.prefix}-`)) removeCgroupTree(dir);
  });
  await step('directory', () => rmSync(names.baseDir, { recursive: true, force: true }));
  if (!errors.length) releaseSlot(names);
  if (errors.length) throw new Error(`teardown of ${names.prefix} left something behind:\n${errors.join('\n')}`);
}

/** Everything of the run still on the machine, one line each; empty after a good teardown. */
export async function runLeftovers(names: RunNames): Promise<string[]> {
  return [
    ...(await runNamespaces(names)).map((ns) => `namespace ${ns}`),
    ...(await runLinks(names)).map((link) => `link ${link}`),
    ...(await runRulesLeft(names)).map((rule) => `iptables ${rule}`),
    ...processesUnder(names.baseDir).map((pid) => `process ${pid}`),
    ...mountsUnder(names.baseDir).map((m) => `mount ${m}`),
    ...cgroupsWithPrefix(`${names.prefix}-`).map((c) => `cgroup ${c}`),
    ...(existsSync(names.baseDir) ? [`directory ${names.baseDir}`] : []),
    ...(claimHeld(names) ? [`slot claim ${names.slot}`] : []),
  ];
}
