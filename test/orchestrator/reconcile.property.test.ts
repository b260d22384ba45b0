import { describe, expect, it } from 'vitest';
import { isTerminal, type TaskState, type UpdateStatus } from '../../control-plane/db/schema/index.ts';
import { isLive, type NodeView, type Plan, reconcileService, type ServiceView, type TaskView } from '../../control-plane/orchestrator/reconcile.ts';
import { isGlobal, replicasOf, type ServiceSpec, specHashOf, type UpdateConfig, updateOrderOf } from '../../control-plane/swarm/service-spec.ts';
import type { RestartPolicySpec } from '../../protocol/task-spec.ts';
import { random } from '../scheduler/fixtures.ts';

/**
 * Properties of the reconciler over random services, tasks and nodes, from random states.
 *
 * A world is one service, its tasks and the nodes. Three things move it on: a pass (`plan`, then
 * `apply`, what apply-plan.ts writes), progress (`progress`, what the scheduler and the agents do
 * between passes) and time (to the instant a plan asks to be woken at). The properties:
 *
 * (a) Fixed point. After a pass, the next plan at the same instant is empty (no creates, no
 *     stops, no status change) except where the pass itself moved the world on (listed in the
 *     test), and it never stops a task the pass made. So passes come to rest: at one instant the
 *     fourth plan is empty at the latest; with progress and time between them, the world reaches a
 *     state neither changes, within a bound, and that state is the one the spec asks for.
 * (b) After every pass, no slot holds two live tasks outside a start-first overlap.
 * (c) No pass creates more tasks than the service wants slots, nor two in one slot.
 */
interface World {
  service: ServiceView;
  tasks: TaskView[];
  nodes: NodeView[];
}

const SECOND = 1_000_000_000; // Docker durations are nanoseconds
const NOW = 1_000_000;
const SEEDS = Array.from({ length: 1000 }, (_, i) => i + 1);

type Rng = ReturnType<typeof random>;
const ORDERS: Array<UpdateConfig['Order']> = ['stop-first', 'start-first'];
const ACTIONS: Array<UpdateConfig['FailureAction']> = [undefined, 'pause', 'continue', 'rollback', 'rollback'];
const CONDITIONS: Array<RestartPolicySpec['Condition']> = ['any', 'on-failure', 'none'];
const STATUSES: Array<UpdateStatus['State'] | null> = [null, null, 'updating', 'updating', 'paused', 'rollback_started', 'rollback_paused', 'completed'];
const STATES: TaskState[] = ['new', 'pending', 'pending', 'assigned', 'starting', 'running', 'running', 'running', 'complete', 'shutdown', 'failed', 'failed', 'rejected', 'orphaned'];

function updateConfig(r: Rng): UpdateConfig | undefined {
  if (r.chance(0.2)) return undefined;
  return {
    Parallelism: r.pick([0, 1, 1, 2, 3]),
    Order: r.pick(ORDERS),
    FailureAction: r.pick(ACTIONS),
    MaxFailureRatio: r.pick([0, 0, 0.25, 0.5]),
    Monitor: r.pick([0, 5 * SECOND]),
  };
}

/** A random service in a random state: mid-update or not, with history, on a few nodes. */
function scenario(seed: number): World {
  const r = random(seed);
  const nodes = Array.from({ length: r.int(0, 6) }, (_, i): NodeView => ({
    id: `n${i}`,
    hostname: `n${i}`,
    role: 'worker',
    labels: r.chance(0.5) ? { zone: r.pick(['east', 'west']) } : {},
    engineLabels: {},
    os: 'linux',
    arch: 'x86_64',
    state: r.chance(0.1) ? 'down' : 'ready',
    availability: r.pick(['active', 'active', 'active', 'active', 'pause', 'drain']),
  }));
  const global = r.chance(0.3);
  const restart = r.chance(0.3)
    ? {}
    : { Condition: r.pick(CONDITIONS), Delay: r.pick([0, 0, 5 * SECOND]), MaxAttempts: r.pick([0, 0, 1, 2]), Window: r.pick([0, 0, 20 * SECOND]) };
  const placement = global && r.chance(0.3) ? { Constraints: ['node.labels.zone==east'] } : {};
  const specOf = (image: string): ServiceSpec => ({
    Name: 'svc',
    TaskTemplate: { ContainerSpec: { Image: image }, RestartPolicy: restart, Placement: placement },
    Mode: global ? { Global: {} } : { Replicated: { Replicas: r.int(0, 8) } },
    UpdateConfig: updateConfig(r),
    RollbackConfig: updateConfig(r),
  });
  const [spec, other] = [specOf('img:2'), specOf('img:1')];
  const state = r.pick(STATUSES);
  const updateStatus: UpdateStatus | null = state && { State: state, StartedAt: new Date(r.int(0, NOW)).toISOString(), Message: 'random' };
  const service: ServiceView = { id: 'svc', spec, specHash: specHashOf(spec), previousSpec: r.chance(0.7) ? other : null, updateStatus };

  const hashes = [service.specHash, specHashOf(other)];
  const used = new Set<number>();
  const tasks: TaskView[] = [];
  const keys = global ? [...nodes.map((n) => n.id), null] : Array.from({ length: replicasOf(spec) + 2 }, (_, i) => i + 1);
  for (const key of keys) {
    for (let k = r.int(0, 3); k > 0; k--) {
      const state = r.pick(STATES);
      const unplaced = state === 'new' || state === 'pending';
      // A task past pending is on a node (now and then one since removed); a global one always is.
      const placed = r.chance(0.05) ? 'gone' : nodes.length ? r.pick(nodes).id : 'gone';
      const nodeId = global ? (typeof key === 'string' ? key : null) : unplaced ? null : placed;
      let createdAt = r.int(0, NOW - 1);
      while (used.has(createdAt)) createdAt++;
      used.add(createdAt);
      tasks.push({
        id: `s${seed}t${tasks.length}`,
        slot: global ? 0 : Number(key),
        nodeId,
        desiredState: r.chance(0.6) ? 'running' : 'shutdown',
        state,
        specHash: r.pick(hashes),
        statusAt: Math.min(NOW - 1, createdAt + r.int(0, 30_000)),
        createdAt,
      });
    }
  }
  return { service, tasks, nodes };
}

let made = 0;

/**
 * What apply-plan.ts writes, in memory: a stopped task is desired shutdown, and one no agent has
 * yet (new or pending) is shut down at once, its slot free in the same instant; a created task is
 * pending in its slot (on its node, for a global service), made now from the current spec; the
 * update status is written; a rollback swaps Spec and PreviousSpec.
 */
function apply(world: World, plan: Plan, now: number): World {
  const stopping = new Set(plan.shutdown.map((s) => s.taskId));
  const tasks = world.tasks.map((t): TaskView => {
    if (!stopping.has(t.id)) return t;
    return { ...t, desiredState: 'shutdown', state: t.state === 'new' || t.state === 'pending' ? 'shutdown' : t.state };
  });
  for (const c of plan.create) {
    tasks.push({ id: `new${++made}`, slot: c.slot, nodeId: c.nodeId, desiredState: 'running', state: 'pending', specHash: world.service.specHash, statusAt: now, createdAt: now });
  }
  let service = world.service;
  if (plan.updateStatus !== undefined) service = { ...service, updateStatus: plan.updateStatus };
  if (plan.rollback && service.previousSpec) {
    service = { ...service, spec: service.previousSpec, previousSpec: service.spec, specHash: specHashOf(service.previousSpec) };
  }
  return { ...world, service, tasks };
}

const takesNewTasks = (n: NodeView | undefined) => n?.state === 'ready' && n.availability === 'active';

/**
 * What happens between passes, all of it at once and without failures: the scheduler places each
 * pending task (on the first node that takes new tasks; a global one on its own node, if that node
 * takes them), the agents run every placed live task, and every task told to stop on a reachable
 * node has stopped.
 */
function progress(world: World, now: number): World {
  const nodeById = new Map(world.nodes.map((n) => [n.id, n]));
  const tasks = world.tasks.map((t): TaskView => {
    if (isTerminal(t.state)) return t;
    if (!isLive(t)) return nodeById.get(t.nodeId ?? '')?.state === 'ready' ? { ...t, state: 'shutdown', statusAt: now } : t;
    if (t.state === 'new' || t.state === 'pending') {
      const node = t.nodeId === null ? world.nodes.find(takesNewTasks) : nodeById.get(t.nodeId);
      return takesNewTasks(node) ? { ...t, nodeId: node!.id, state: 'running', statusAt: now } : t;
    }
    return nodeById.get(t.nodeId ?? '')?.state === 'ready' && t.state !== 'running' ? { ...t, state: 'running', statusAt: now } : t;
  });
  return { ...world, tasks };
}

const isEmpty = (p: Plan) => p.create.length === 0 && p.shutdown.length === 0 && p.updateStatus === undefined && !p.rollback;
const plan = (w: World, now: number) => reconcileService(w.service, w.tasks, w.nodes, now);
const slotKey = (w: World, t: Pick<TaskView, 'slot' | 'nodeId'>) => (isGlobal(w.service.spec) ? (t.nodeId ?? '') : String(t.slot));

const newestIn = (w: World, key: string) => w.tasks.filter((t) => slotKey(w, t) === key).sort((a, b) => b.createdAt - a.createdAt)[0];
const exitedOnItsOwn = (t: TaskView | undefined) => ['complete', 'failed', 'rejected'].includes(t?.state ?? '');

/** The slots the service wants, by key: its replicas, or the nodes its global tasks may run on. */
function wantedSlots(w: World): Set<string> {
  if (!isGlobal(w.service.spec)) return new Set(Array.from({ length: replicasOf(w.service.spec) }, (_, i) => String(i + 1)));
  const constrained = (w.service.spec.TaskTemplate.Placement?.Constraints ?? []).length > 0;
  // A paused node keeps the tasks it has (being replaced or not) but takes no new ones.
  const occupied = new Set(w.tasks.filter((t) => !isTerminal(t.state)).map((t) => t.nodeId));
  return new Set(
    w.nodes
      .filter((n) => n.state === 'ready' && n.availability !== 'drain' && (n.availability !== 'pause' || occupied.has(n.id)))
      .filter((n) => !constrained || n.labels.zone === 'east')
      .map((n) => n.id),
  );
}

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

/** One pass: the plan made for `before` at `now`, and the world once it is applied. */
interface Pass {
  before: World;
  plan: Plan;
  after: World;
  now: number;
  why: string;
}

/**
 * A service's life from a random state: passes until one is empty, then rounds of progress and
 * passes, and when progress leaves the passes nothing to do (at rest at this instant), on to the
 * time the last plan asked to be woken at (a restart delay, a Monitor period), until none is asked.
 * `check` sees every pass. Returns the world at rest and counts of what it took.
 */
function simulate(seed: number, check: (pass: Pass) => void = () => {}) {
  let world = scenario(seed);
  let now = NOW;
  let mostPasses = 0;
  let rounds = 0;
  // Generous: a rollout moves a slot on at least every other round, and time moves only to a
  // restart delay or a Monitor period that is then over.
  const bound = 50 + 10 * (wantedSlots(world).size + world.tasks.length);
  for (; rounds <= bound; rounds++) {
    if (rounds > 0) world = progress(world, now);
    for (let passes = 0; ; passes++) {
      const why = `seed ${seed}, round ${rounds}, pass ${passes}`;
      const p = plan(world, now);
      if (passes > 10) throw new Error(`${why}: still planning after 10 passes at one instant`);
      const after = apply(world, p, now);
      check({ before: world, plan: p, after, now, why });
      if (isEmpty(p)) {
        mostPasses = Math.max(mostPasses, passes);
        if (passes === 0 && rounds > 0 && p.wakeAt === undefined) return { world, mostPasses, rounds, bound };
        if (passes === 0 && rounds > 0) now = p.wakeAt!;
        break;
      }
      world = after;
    }
  }
  throw new Error(`seed ${seed}: not at rest after ${bound} rounds`);
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
    for (const seed of SEEDS) {
      const { world, ...took } = simulate(seed);
      const why = `seed ${seed} at rest`;
      mostPasses = Math.max(mostPasses, took.mostPasses);
      mostRounds = Math.max(mostRounds, took.rounds);
      expect(took.mostPasses, why).toBeLessThanOrEqual(3);
      // Every live task runs, bar one the scheduler has nowhere to put; one to a slot, bar a
      // start-first overlap whose new task is that one.
      const nodeById = new Map(world.nodes.map((n) => [n.id, n]));
      const live = world.tasks.filter(isLive);
      for (const t of live) {
        const placeable = t.nodeId === null ? world.nodes.some(takesNewTasks) : takesNewTasks(nodeById.get(t.nodeId));
        expect(t.state === 'running' || (['new', 'pending'].includes(t.state) && !placeable), `${why}: ${t.id} ${t.state}`).toBe(true);
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
      // A wanted slot is left empty only by its restart policy: its newest task exited on its own.
      for (const key of wantedSlots(world)) {
        if (!live.some((t) => slotKey(world, t) === key)) expect(exitedOnItsOwn(newestIn(world, key)), `${why}: slot ${key} empty`).toBe(true);
      }
    }
    // The generator reaches the interesting cases: several passes at an instant, long rollouts.
    expect(mostPasses).toBeGreaterThan(1);
    expect(mostRounds).toBeGreaterThan(5);
  });

  it('(b) after every pass, no slot holds two live tasks outside a start-first overlap', () => {
    for (const seed of SEEDS) simulate(seed, ({ before, after, why }) => expectOneLiveTaskPerSlot(before.service, after, why));
  });

  it('(c) no pass creates more tasks than the service wants slots, nor two in one slot', () => {
    for (const seed of SEEDS) simulate(seed, ({ before, plan: p, why }) => expectCreatesWithinWantedSlots(before, p, why));
  });
});
