import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { claimHeld, releaseSlot } from './claim.ts';
import { removeRunIsolation, runRulesLeft } from './firewall.ts';
import { cgroupsWithPrefix, mountsUnder, removeCgroupTree, unmountUnder } from './mounts.ts';
import type { RunNames } from './names.ts';
import { removeRunNetwork, runLinks, runNamespaces } from './network.ts';
import { killProcessesOf, processesOf } from './processes.ts';

/** wireguard-go's control sockets are machine-wide, one per interface name. */
const WIREGUARD_SOCKETS = '/var/run/wireguard';

/** The control sockets of the run's WireGuard interfaces (a killed wireguard-go leaves its socket). */
function runWireguardSockets(names: RunNames): string[] {
  if (!existsSync(WIREGUARD_SOCKETS)) return [];
  return readdirSync(WIREGUARD_SOCKETS)
    .filter((f) => f.startsWith(`${names.prefix}-`))
    .map((f) => join(WIREGUARD_SOCKETS, f));
}

/**
 * Removes everything of a run, found by its names, in the order that lets each step succeed:
 * processes (agents, control plane, engines, shims, containers), then the mounts the killed
 * engines leave, namespaces and bridge, the root namespace's rules, cgroups, WireGuard sockets,
 * the directory and last the slot claim. Each step copes with its part being gone already, so
 * this is idempotent, works after a start that failed half way, and on what a killed run left
 * behind. Every step is tried; the errors are reported together at the end.
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
  await step('processes', () => killProcessesOf(names.owner));
  await step('mounts', () => unmountUnder(names.baseDir));
  await step('network', () => removeRunNetwork(names));
  await step('iptables', () => removeRunIsolation(names));
  await step('cgroups', () => {
    for (const dir of cgroupsWithPrefix(`${names.prefix}-`)) removeCgroupTree(dir);
  });
  await step('wireguard sockets', () => {
    for (const socket of runWireguardSockets(names)) rmSync(socket, { force: true });
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
    ...processesOf(names.owner).map((pid) => `process ${pid}`),
    ...mountsUnder(names.baseDir).map((m) => `mount ${m}`),
    ...cgroupsWithPrefix(`${names.prefix}-`).map((c) => `cgroup ${c}`),
    ...runWireguardSockets(names).map((socket) => `wireguard socket ${socket}`),
    ...(existsSync(names.baseDir) ? [`directory ${names.baseDir}`] : []),
    ...(claimHeld(names) ? [`slot claim ${names.slot}`] : []),
  ];
}
