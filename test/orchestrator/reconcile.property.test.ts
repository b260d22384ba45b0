import { describe, expect, it } from 'vitest';
import { isLive, type Plan, type ServiceView, type TaskView } from '../../control-plane/orchestrator/reconcile.ts';
import { isJob, onePerNode, replicatedJobOf, updateOrderOf } from '../../control-plane/swarm/service-spec.ts';
import { exitedOnItsOwn, isEmpty, newestIn, ofThisRun, plan, simulate, slotKey, takesNewTasks, wantedSlots, type World } from './reconcile-world.ts';

/**
 * Properties of the reconciler over random services (of every mode), tasks and nodes, from random
 * states; reconcile-world.ts makes the worlds and moves them on. The properties:
 *
 * (a) Fixed point. After a pass, the next plan at the same instant is empty (no creates, no
 *     stops, no status change) except where the pass itself moved the world on (listed in the
 *     test), and it never stops a task the pass made. So passes come to rest: at one instant the
 *     fourth plan is empty at the latest; with progress and time between them, the world reaches a
 *     state neither changes, within a bound, and that state is the one the spec asks for.
 * (b) After every pass, no slot holds two live tasks outside a start-first overlap.
 * (c) No pass creates more tasks than the service wants slots, nor two in one slot.
 * (d) Jobs: no pass starts a task in a slot whose task completed, nor a fresh slot beyond
 *     MaxConcurrent, and after every pass no task of an earlier iteration is live.
 */
const SEEDS = Array.from({ length: 1000 }, (_, i) => i + 1);

/** (c) A plan creates in wanted slots only, at most once each: never more tasks than slots wanted. */
function expectCreatesWithinWantedSlots(w: World, p: Plan, why: string) {
  const wanted = wantedSlots(w);
  const keys = p.create.map((c) => slotKey(w, c));
  for (const key of keys) expect(wanted.has(key), `${why}: creates in slot ${key}, not wanted`).toBe(true);
  expect(new Set(keys).size, `${why}: creates twice in one slot`).toBe(keys.length);
  expect(p.create.length, why).toBeLessThanOrEqual(wanted.size);
}

/**
 * (b) After a plan is applied, a slot holds two live tasks only in a start-first overlap: the
 * order in effect (for the service the plan was made for) is start-first, the newest task is of
 * the current spec and not running yet, and the others are of older specs, kept until it runs.
 */
function expectOneLiveTaskPerSlot(planned: ServiceView, after: World, why: string) {
  const bySlot = new Map<string, TaskView[]>();
  for (const t of after.tasks.filter(isLive)) bySlot.set(slotKey(after, t), [...(bySlot.get(slotKey(after, t)) ?? []), t]);
  const startFirst = updateOrderOf(planned.spec, planned.updateStatus?.State === 'rollback_started') === 'start-first';
  for (const [key, live] of bySlot) {
    if (live.length < 2) continue;
    const [newest, ...older] = [...live].sort((a, b) => b.createdAt - a.createdAt);
    const context = `${why}: slot ${key} holds ${live.map((t) => `${t.id}:${t.state}`).join(', ')}`;
    expect(startFirst, context).toBe(true);
    expect(newest!.specHash === planned.specHash && newest!.state !== 'running', context).toBe(true);
    for (const t of older) expect(t.specHash, context).not.toBe(planned.specHash);
  }
}

describe('reconcileService on random services (properties)', () => {
  it('(a) after a plan is applied, the next plan at the same instant is empty, bar what the applier itself made possible', () => {
    let exceptions = 0;
    for (const seed of SEEDS) {
      simulate(seed, ({ before, plan: p, after, now, why }) => {
        const q = plan(after, now);
        // Q never undoes P: it does not stop a task P made.
        const madeByP = new Set(after.tasks.slice(before.tasks.length).map((t) => t.id));
        expect(q.shutdown.filter((s) => madeByP.has(s.taskId)), why).toEqual([]);
        if (isEmpty(q)) return;
        exceptions++;
        // The exceptions. (i) P stopped a task no agent had: the applier ended it at once, so its
        // slot is free now rather than when an agent reports. (ii) P took a failed update's
        // rollback FailureAction: it made nothing and asked for a pass at once (wakeAt = now), which
        // starts the rollback (or, with no previous spec, refills the slots of the paused update).
        // (iii) Q only marks the rollout completed: P's own stops or creates kept it from settling.
        const endedAtOnce = p.shutdown.some((s) => ['new', 'pending'].includes(before.tasks.find((t) => t.id === s.taskId)!.state));
        const passAtOnce = p.wakeAt === now;
        const completesOnly = q.create.length === 0 && q.shutdown.length === 0 && ['completed', 'rollback_completed'].includes(q.updateStatus?.State ?? '');
        expect(endedAtOnce || passAtOnce || completesOnly, `${why}: ${JSON.stringify({ p, q })}`).toBe(true);
      });
    }
    expect(exceptions).toBeGreaterThan(0);
  });

  it('(a) passes come to rest: by the fourth plan at one instant, and for good as agents progress and time passes', () => {
    let mostPasses = 0;
    let mostRounds = 0;
    let jobsDoneInTurns = 0;
    for (const seed of SEEDS) {
      const { world, ...took } = simulate(seed);
      const why = `seed ${seed} at rest`;
      mostPasses = Math.max(mostPasses, took.mostPasses);
      mostRounds = Math.max(mostRounds, took.rounds);
      expect(took.mostPasses, why).toBeLessThanOrEqual(3);
      // Every live task runs, bar one the scheduler has nowhere to put, or a global task kept on a
      // down node (no agent there to move it on); one to a slot, bar a start-first overlap whose new
      // task is that one.
      const nodeById = new Map(world.nodes.map((n) => [n.id, n]));
      const live = world.tasks.filter(isLive);
      for (const t of live) {
        const placeable = t.nodeId === null ? world.nodes.some(takesNewTasks) : takesNewTasks(nodeById.get(t.nodeId));
        const keptOnDownNode = onePerNode(world.service.spec) && nodeById.get(t.nodeId ?? '')?.state === 'down';
        expect(t.state === 'running' || keptOnDownNode || (['new', 'pending'].includes(t.state) && !placeable), `${why}: ${t.id} ${t.state}`).toBe(true);
      }
      expectOneLiveTaskPerSlot(world.service, world, why);
      // Unless a task the scheduler cannot place holds the rollout up, a task of an older spec is
      // left only by a paused update, or by a start-first one stalled on a slot whose newest task
      // exited on its own. Start-first replaces on the restart policy's terms; when the policy says
      // never (it reads the slot's whole history, an older spec's exit too), that slot is skipped
      // but still takes its place in the Parallelism window, and the slots after it wait for good.
      const paused = ['paused', 'rollback_paused'].includes(world.service.updateStatus?.State ?? '');
      const startFirst = updateOrderOf(world.service.spec, world.service.updateStatus?.State === 'rollback_started') === 'start-first';
      const outdated = live.filter((t) => t.specHash !== world.service.specHash);
      if (outdated.length && live.every((t) => t.state === 'running') && !paused) {
        const stalled = startFirst && outdated.some((t) => exitedOnItsOwn(newestIn(world, slotKey(world, t))));
        expect(stalled, `${why}: ${outdated.map((t) => t.id).join(', ')} out of date`).toBe(true);
      }
      // A wanted slot is left empty only by its restart policy: its newest task exited on its own
      // (a job's completed). Or a replicated job's fresh slot waits for room: MaxConcurrent tasks
      // are live, ones the scheduler cannot place.
      const job = replicatedJobOf(world.service.spec);
      const waitsForRoom = (key: string) => !!job && !newestIn(world, key) && live.length >= job.maxConcurrent;
      for (const key of wantedSlots(world)) {
        if (live.some((t) => slotKey(world, t) === key)) continue;
        expect(exitedOnItsOwn(newestIn(world, key)) || waitsForRoom(key), `${why}: slot ${key} empty`).toBe(true);
      }
      const done = [...wantedSlots(world)].every((key) => newestIn(world, key)?.state === 'complete');
      if (job && done && job.totalCompletions > job.maxConcurrent && job.maxConcurrent > 0) jobsDoneInTurns++;
    }
    // The generator reaches the interesting cases: several passes at an instant, long rollouts,
    // replicated jobs run to the end a few tasks at a time.
    expect(mostPasses).toBeGreaterThan(1);
    expect(mostRounds).toBeGreaterThan(5);
    expect(jobsDoneInTurns).toBeGreaterThan(5);
  });

  it('(b) after every pass, no slot holds two live tasks outside a start-first overlap', () => {
    for (const seed of SEEDS) simulate(seed, ({ before, after, why }) => expectOneLiveTaskPerSlot(before.service, after, why));
  });

  it('(c) no pass creates more tasks than the service wants slots, nor two in one slot', () => {
    for (const seed of SEEDS) simulate(seed, ({ before, plan: p, why }) => expectCreatesWithinWantedSlots(before, p, why));
  });

  it('(d) jobs: no pass restarts a completed slot or starts a fresh one beyond MaxConcurrent; an earlier iteration is history', () => {
    let jobs = 0;
    for (const seed of SEEDS) {
      simulate(seed, ({ before, plan: p, after, why }) => {
        if (!isJob(before.service.spec)) return;
        jobs++;
        for (const c of p.create) expect(newestIn(before, slotKey(before, c))?.state, `${why}: slot ${slotKey(before, c)}`).not.toBe('complete');
        const job = replicatedJobOf(before.service.spec);
        const fresh = p.create.filter((c) => !newestIn(before, slotKey(before, c)));
        if (job && fresh.length) expect(after.tasks.filter((t) => isLive(t) && ofThisRun(after, t)).length, why).toBeLessThanOrEqual(job.maxConcurrent);
        expect(after.tasks.filter((t) => isLive(t) && !ofThisRun(after, t)).map((t) => t.id), why).toEqual([]);
      });
    }
    expect(jobs).toBeGreaterThan(1000);
  });
});
