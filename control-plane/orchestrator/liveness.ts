import { inArray } from 'drizzle-orm';
import { nodes } from '../db/schema/index.ts';
import { recordEvent } from '../events/record.ts';
import { nodeStateChanged } from '../events/swarm-objects.ts';
import type { Pass } from './pass.ts';
import { meshChanged, onMesh } from '../swarm/mesh-changes.ts';

/**
 * Marks down the nodes whose heartbeats stopped before `cutoff`, first in the pass, so that the
 * plans made next replace their tasks elsewhere. A node whose beat this instance holds unwritten
 * (queued behind this very pass) is not silent.
 */
export async function markSilentNodesDown(pass: Pass, cutoff: number, heardUnwritten: (nodeId: string) => boolean = () => false): Promise<void> {
  const silent = pass.state.nodes.filter((n) => n.state !== 'down' && (n.lastHeartbeatAt ?? n.createdAt) < cutoff && !heardUnwritten(n.id));
  if (!silent.length) return;
  const version = await pass.version();
  await pass.tx
    .update(nodes)
    .set({ state: 'down', stateMessage: 'heartbeat failure', version, updatedAt: pass.now })
    .where(inArray(nodes.id, silent.map((n) => n.id)));
  // A node marked down leaves the peers of every node that routed to its tasks.
  if (await onMesh(pass.tx, silent.map((n) => n.id))) await meshChanged(pass.tx, pass.clusterId, version);
  for (const n of silent) {
    await recordEvent(pass.tx, pass.clusterId, pass.now, nodeStateChanged(n, n.state, 'down'));
    n.state = 'down';
  }
  pass.nodesWritten(silent.map((n) => n.id));
}
