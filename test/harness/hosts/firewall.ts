import { must, mustIn, run } from './command.ts';
import { HOST_LINK, type RunNames } from './names.ts';

/** `-w`: wait for the xtables lock, which every dockerd on the machine takes too. */
const iptables = (args: string[]) => must('iptables', ['-w', '10', ...args]);
const iptablesTry = (args: string[]) => run('iptables', ['-w', '10', ...args]);
/** iptables in a host's namespace: its own tables (the xtables lock is still the machine's). */
const hostIptables = (ns: string, args: string[]) => mustIn(ns, 'iptables', ['-w', '10', ...args]);

/** Each run chain and the built-in chain that jumps to it first. */
function jumps(names: RunNames): Array<[builtin: string, chain: string]> {
  const c = names.chains;
  return [
    ['FORWARD', c.forward],
    ['INPUT', c.input],
    ['OUTPUT', c.output],
  ];
}

/**
 * The root namespace's rules for this run, in chains of its own jumped to from the top of FORWARD,
 * INPUT and OUTPUT. The machine forwards (docker turned ip_forward on) with FORWARD policy DROP and
 * br_netfilter, so hosts on our bridge cannot talk until we accept it; and it has a default route
 * out, so every packet of the run is kept off the uplink explicitly:
 * - FORWARD: host to host across the bridge is accepted; anything else entering or leaving the
 *   bridge is dropped, so nothing the hosts send is routed anywhere (uplink, docker0, other runs).
 * - INPUT: from the bridge, only the bridge subnet's own addresses reach the root namespace
 *   (the control plane); a container address that escaped its host's masquerade gets no answer,
 *   because an answer to it would leave by the default route.
 * - OUTPUT: nothing addressed to the bridge subnet leaves by another interface (say the bridge
 *   is gone), and nothing is sent to the hosts' container range at all. Loopback is let through
 *   first: the CLI reaching the control plane on the bridge's own address goes out by `lo`.
 */
export async function isolateRun(names: RunNames): Promise<void> {
  const { bridge, subnet, containerRange, chains } = names;
  const rules: Array<[chain: string, rule: string[]]> = [
    [chains.forward, ['-i', bridge, '-o', bridge, '-j', 'ACCEPT']],
    [chains.forward, ['-i', bridge, '-j', 'DROP']],
    [chains.forward, ['-o', bridge, '-j', 'DROP']],
    [chains.input, ['-i', bridge, '!', '-s', subnet, '-j', 'DROP']],
    [chains.output, ['-o', 'lo', '-j', 'RETURN']],
    [chains.output, ['-d', subnet, '!', '-o', bridge, '-j', 'DROP']],
    [chains.output, ['-d', containerRange, '-j', 'DROP']],
  ];
  // Chains filled first, jumps last: the rules are whole before any packet is sent through them.
  for (const [, chain] of jumps(names)) await iptables(['-N', chain]);
  for (const [chain, rule] of rules) await iptables(['-A', chain, ...rule]);
  for (const [builtin, chain] of jumps(names)) await iptables(['-I', builtin, '1', '-j', chain]);
}

/**
 * Removes exactly what isolateRun added: the jumps (every copy, bounded) and the run's chains.
 * Missing pieces are fine, so it runs after a half-done start and a second time.
 */
export async function removeRunIsolation(names: RunNames): Promise<void> {
  for (const [builtin, chain] of jumps(names)) {
    for (let i = 0; i < 10; i++) if ((await iptablesTry(['-D', builtin, '-j', chain])).code !== 0) break;
  }
  for (const [, chain] of jumps(names)) {
    await iptablesTry(['-F', chain]);
    await iptablesTry(['-X', chain]);
  }
}

/** This run's chains and jumps still in the root namespace's filter table (the leftover check). */
export async function runRulesLeft(names: RunNames): Promise<string[]> {
  const rules = await must('iptables-save', ['-t', 'filter']);
  return rules.split('\n').filter((l) => l.includes(names.prefix));
}

/** The chain in each host's namespace that partitions it; the host's dockerd has no rule of this name. */
const PARTITION_CHAIN = 'SWARMLET-PARTITION';

export type Direction = 'in' | 'out' | 'both';

/**
 * Jumps from INPUT, OUTPUT and FORWARD of a host's own namespace to an empty partition chain, made
 * before its dockerd starts. Partitioning there cuts the agent, the engine and the containers
 * alike (the host's own traffic and what it forwards for its containers) and touches nothing in
 * the root namespace, where other runs' rules live.
 */
export async function preparePartition(ns: string): Promise<void> {
  await hostIptables(ns, ['-N', PARTITION_CHAIN]);
  for (const builtin of ['INPUT', 'OUTPUT', 'FORWARD']) await hostIptables(ns, ['-I', builtin, '1', '-j', PARTITION_CHAIN]);
}

/** Drops the host's traffic on its link: arriving (`in`), leaving (`out`) or both. */
export async function partitionHost(ns: string, direction: Direction): Promise<void> {
  await healHost(ns);
  if (direction !== 'out') await hostIptables(ns, ['-A', PARTITION_CHAIN, '-i', HOST_LINK, '-j', 'DROP']);
  if (direction !== 'in') await hostIptables(ns, ['-A', PARTITION_CHAIN, '-o', HOST_LINK, '-j', 'DROP']);
}

/** Lets all the host's traffic through again (connections the partition stalled resume). */
export async function healHost(ns: string): Promise<void> {
  await hostIptables(ns, ['-F', PARTITION_CHAIN]);
}

/**
 * Counts the packets crossing the bridge from one host to another that match `match`, without a
 * capture: a rule with no target at the top of the run's forward chain counts and lets them on.
 * Returns a reader of the count since now. The chain goes at teardown with the rule in it.
 */
export async function countBetweenHosts(names: RunNames, match: string[]): Promise<() => Promise<number>> {
  const rule = ['-i', names.bridge, '-o', names.bridge, ...match, '-m', 'comment', '--comment', `count-${Math.random().toString(36).slice(2, 8)}`];
  await iptables(['-I', names.chains.forward, '1', ...rule]);
  const comment = rule[rule.length - 1]!;
  return async () => {
    const listing = await must('iptables', ['-w', '10', '-L', names.chains.forward, '-v', '-x', '-n']);
    const line = listing.split('\n').find((l) => l.includes(comment));
    if (!line) throw new Error(`counting rule ${comment} is gone from ${names.chains.forward}`);
    return Number(line.trim().split(/\s+/)[0]);
  };
}
