import type { AssignmentsResponse } from '../../protocol/agent-api.ts';
import { inNextTurn } from '../event-loop-turn.ts';

/** What a long-poll learns from a batch: its node's index, and the node's answer when that index is past the poll's. */
export interface Answered {
  index: number;
  answer?: AssignmentsResponse;
}

/**
 * Reads the indexes of the nodes asked (node → the lowest index a poll of it waits from) and
 * builds the answers of those whose index is past it; a node asked from 0 is always answered.
 */
export type AnswerBuilder = (asked: ReadonlyMap<string, number>) => Promise<Map<string, Answered>>;

/** Runs one read of a cluster's long-polls in the cluster's turn (FairShare.readAssignments). */
export type ReadTurn = <T>(clusterId: string, read: () => Promise<T>) => Promise<T>;

interface Asking {
  since: number;
  resolve: (answered: Answered) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  build: AnswerBuilder;
  asking: Map<string, Asking[]>;
}

/**
 * The long-polls of one cluster that ask for their answers in the same turn of the event loop are
 * answered together: one change that concerns many nodes (a global service, a scale-up, a
 * network's names) wakes their polls at once, and each table is then read once for all of them
 * (assignments.ts) instead of once per node: the per-node reads were most of a fan-out's time
 * (2,000 agents: ~10 statements per answer, p99 11 s from the create's reply to the last agent).
 *
 * A batch holds at most `maxNodes` nodes, so one cluster's crowd is answered in slices between
 * which other tenants' requests run (each slice in the cluster's read turn). Every poll of a
 * cluster passes the same builder; a batch uses its first poll's. `batched: false` builds each
 * poll's answer alone, where a request must not wait on another's (Workers).
 */
export class AnswerBatches {
  private readonly filling = new Map<string, Batch>();

  constructor(
    private readonly readTurn: ReadTurn,
    private readonly maxNodes: number,
    private readonly batched = true,
  ) {}

  ask(clusterId: string, nodeId: string, since: number, build: AnswerBuilder): Promise<Answered> {
    if (!this.batched) return this.readTurn(clusterId, () => build(new Map([[nodeId, since]]))).then((answers) => answers.get(nodeId)!);
    let batch = this.filling.get(clusterId);
    if (!batch || (batch.asking.size >= this.maxNodes && !batch.asking.has(nodeId))) {
      const opened: Batch = { build, asking: new Map() };
      this.filling.set(clusterId, opened);
      inNextTurn(() => void this.answer(clusterId, opened));
      batch = opened;
    }
    const asking = batch.asking.get(nodeId) ?? [];
    batch.asking.set(nodeId, asking);
    return new Promise((resolve, reject) => asking.push({ since, resolve, reject }));
  }

  private async answer(clusterId: string, batch: Batch): Promise<void> {
    if (this.filling.get(clusterId) === batch) this.filling.delete(clusterId);
    const asked = new Map([...batch.asking].map(([nodeId, polls]) => [nodeId, Math.min(...polls.map((p) => p.since))]));
    try {
      const answers = await this.readTurn(clusterId, () => batch.build(asked));
      for (const [nodeId, polls] of batch.asking) {
        const { index, answer } = answers.get(nodeId)!;
        // Polls of one node that wait from different indexes: each gets the answer only if it is news to it.
        for (const p of polls) p.resolve(index > p.since ? { index, answer } : { index });
      }
    } catch (err) {
      for (const polls of batch.asking.values()) for (const p of polls) p.reject(err);
    }
  }
}
