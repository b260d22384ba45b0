import type { ChangedNodes } from '../notifier.ts';
import type { Tx } from './database.ts';

/**
 * Whose long-polls a transaction's writes concern, recorded by each write as it is made and read
 * once the transaction has committed (writeCluster, the leader's passes). A transaction that
 * records nothing wakes everyone: targeting is an optimisation, and a writer that did not say
 * whom its change concerns must not leave anyone asleep.
 */
const targets = new WeakMap<Tx, Set<string> | 'everyone'>();

/** The writes so far concern these nodes' assignments (none at all when the list is empty). */
export function wakeNodes(tx: Tx, nodeIds: Iterable<string | null>): void {
  let set = targets.get(tx);
  if (set === 'everyone') return;
  if (!set) targets.set(tx, (set = new Set()));
  for (const id of nodeIds) if (id) set.add(id);
}

/** A write that changes every node's answer (the cluster's ingress ports, a routing-mesh backend). */
export function wakeEveryone(tx: Tx): void {
  targets.set(tx, 'everyone');
}

/** What the committed transaction concerns; undefined: everyone. */
export function wakeTargets(tx: Tx): ChangedNodes {
  const set = targets.get(tx);
  return set === 'everyone' ? undefined : set;
}

