import { describe, expect, it } from 'vitest';
import { type AnswerBuilder, AnswerBatches, type ReadTurn } from '../../control-plane/agent-api/answer-batches.ts';
import type { AssignmentsResponse } from '../../protocol/agent-api.ts';

const inTurn: ReadTurn = (_clusterId, read) => read();

/** A builder over fixed node indexes that records each batch it was asked to build. */
function recording(indexes: Record<string, number>) {
  const batches: Array<Map<string, number>> = [];
  const build: AnswerBuilder = async (asked) => {
    batches.push(new Map(asked));
    return new Map(
      [...asked].map(([nodeId, since]) => {
        const index = indexes[nodeId] ?? 1;
        return [nodeId, index > since ? { index, answer: { index, nodeId } as AssignmentsResponse } : { index }];
      }),
    );
  };
  return { build, batches };
}

describe('AnswerBatches', () => {
  it('answers the polls of a cluster asked in one turn with one build', async () => {
    const { build, batches } = recording({ a: 5, b: 5, c: 2 });
    const answers = new AnswerBatches(inTurn, 500);
    const got = await Promise.all(['a', 'b', 'c'].map((node) => answers.ask('cl', node, 3, build)));
    expect(batches).toHaveLength(1);
    expect([...batches[0]!.keys()]).toEqual(['a', 'b', 'c']);
    // c's index is not past the index its poll waits from: no answer, so it waits on.
    expect(got.map((g) => [g.index, g.answer?.nodeId])).toEqual([
      [5, 'a'],
      [5, 'b'],
      [2, undefined],
    ]);
  });

  it('keeps clusters apart, and slices a crowd into batches of at most maxNodes', async () => {
    const { build, batches } = recording({});
    const answers = new AnswerBatches(inTurn, 2);
    await Promise.all([...['a', 'b', 'c', 'd', 'e'].map((n) => answers.ask('one', n, 0, build)), answers.ask('two', 'x', 0, build)]);
    expect(batches.map((b) => [...b.keys()])).toEqual([['a', 'b'], ['c', 'd'], ['e'], ['x']]);
  });

  it('builds a node asked by two polls once, from the lower index, and answers each only with news to it', async () => {
    const { build, batches } = recording({ a: 7 });
    const answers = new AnswerBatches(inTurn, 500);
    const [older, newer] = await Promise.all([answers.ask('cl', 'a', 4, build), answers.ask('cl', 'a', 7, build)]);
    expect(batches).toEqual([new Map([['a', 4]])]);
    expect(older.answer?.index).toBe(7);
    expect(newer).toEqual({ index: 7 });
  });

  it('polls asked in a later turn go in a later batch', async () => {
    const { build, batches } = recording({});
    const answers = new AnswerBatches(inTurn, 500);
    const first = answers.ask('cl', 'a', 0, build);
    await first;
    await answers.ask('cl', 'b', 0, build);
    expect(batches.map((b) => [...b.keys()])).toEqual([['a'], ['b']]);
  });

  it("rejects every poll of a batch whose build failed, and the next batch builds anew", async () => {
    let fail = true;
    const build: AnswerBuilder = async (asked) => {
      if (fail) throw new Error('database is locked');
      return new Map([...asked.keys()].map((n) => [n, { index: 1 }]));
    };
    const answers = new AnswerBatches(inTurn, 500);
    const results = await Promise.allSettled([answers.ask('cl', 'a', 0, build), answers.ask('cl', 'b', 0, build)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(answers.ask('cl', 'a', 0, build)).resolves.toEqual({ index: 1, answer: undefined });
  });

  it('unbatched (Workers), each poll is built alone in its own turn of the cluster', async () => {
    const { build, batches } = recording({ a: 2, b: 2 });
    const turns: string[] = [];
    const answers = new AnswerBatches((clusterId, read) => (turns.push(clusterId), read()), 500, false);
    await Promise.all([answers.ask('cl', 'a', 0, build), answers.ask('cl', 'b', 0, build)]);
    expect(batches.map((b) => [...b.keys()])).toEqual([['a'], ['b']]);
    expect(turns).toEqual(['cl', 'cl']);
  });
});
