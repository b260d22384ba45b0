/**
 * Random worlds for the reconciler's properties (reconcile.property.test.ts), and what moves them.
 *
 * A world is one service, its tasks and the nodes. Three things move it on: a pass (`plan`, then
 * `apply`, what apply-plan.ts writes), progress (`progress`, what the scheduler and the agents do
 * between passes) and time (to the instant a plan asks to be woken at).
 */
import { isTerminal, type TaskState, type UpdateStatus } from '../../control-plane/db/schema/index.ts';
import { isLive, type NodeView, type Plan, reconcileService, type ServiceView, type TaskView } from '../../control-plane/orchestrator/reconcile.ts';
import { isJob, onePerNode, type ModeName, replicasOf, replicatedJobOf, type ServiceMode, type ServiceSpec, specHashOf, type UpdateConfig } from '../../control-plane/swarm/service-spec.ts';
import type { RestartPolicySpec } from '../../protocol/task-spec.ts';
import { random } from '../scheduler/fixtures.ts';

export interface World {
  service: ServiceView;
  tasks: TaskView[];
  nodes: NodeView[];
}

const SECOND = 1_000_000_000; // Docker durations are nanoseconds
const NOW = 1_000_000;
/** A job's iteration in every world; its tasks are of this one or the one before. */
const ITERATION = 1;

type Rng = ReturnType<typeof random>;
const MODES: ModeName[] = ['replicated', 'replicated', 'replicated', 'global', 'global', 'replicated-job', 'replicated-job', 'global-job'];
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

function modeSpec(r: Rng, mode: ModeName): ServiceMode {
  if (mode === 'global') return { Global: {} };
  if (mode === 'global-job') return { GlobalJob: {} };
  if (mode === 'replicated') return { Replicated: { Replicas: r.int(0, 8) } };
  return { ReplicatedJob: { MaxConcurrent: r.int(0, 4), TotalCompletions: r.int(0, 8) } };
}

/** A random service in a random state: mid-update (or mid-job) or not, with history, on a few nodes. */
export function scenario(seed: number): World {
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
  const mode = r.pick(MODES);
  const job = mode === 'replicated-job' || mode === 'global-job';
  const global = mode === 'global' || mode === 'global-job';
  const restart = r.chance(0.3)
    ? {}
    : { Condition: r.pick(CONDITIONS), Delay: r.pick([0, 0, 5 * SECOND]), MaxAttempts: r.pick([0, 0, 1, 2]), Window: r.pick([0, 0, 20 * SECOND]) };
  const placement = global && r.chance(0.3) ? { Constraints: ['node.labels.zone==east'] } : {};
  const specOf = (image: string): ServiceSpec => ({
    Name: 'svc',
    TaskTemplate: { ContainerSpec: { Image: image }, RestartPolicy: restart, Placement: placement },
    Mode: modeSpec(r, mode),
    // Jobs have no update config; they are not rolled out.
    UpdateConfig: job ? undefined : updateConfig(r),
    RollbackConfig: updateConfig(r),
  });
  const [spec, other] = [specOf('img:2'), specOf('img:1')];
  const state = job ? null : r.pick(STATUSES);
  const updateStatus: UpdateStatus | null = state && { State: state, StartedAt: new Date(r.int(0, NOW)).toISOString(), Message: 'random' };
  const jobStatus = job ? { JobIteration: { Index: ITERATION }, LastExecution: '' } : null;
  const service: ServiceView = { id: 'svc', spec, specHash: specHashOf(spec), previousSpec: r.chance(0.7) ? other : null, updateStatus, jobStatus };

  const hashes = [service.specHash, specHashOf(other)];
  const used = new Set<number>();
  const tasks: TaskView[] = [];
  const slots = replicatedJobOf(spec);
  const keys = global ? [...nodes.map((n) => n.id), null] : slots ? Array.from({ length: slots.totalCompletions + 2 }, (_, i) => i) : Array.from({ length: replicasOf(spec) + 2 }, (_, i) => i + 1);
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
      // A job's task of the current iteration is of the current spec: any change starts a new iteration.
      const iteration = job ? r.pick([ITERATION, ITERATION, ITERATION - 1]) : undefined;
      tasks.push({
        id: `s${seed}t${tasks.length}`,
        slot: global ? 0 : Number(key),
        nodeId,
        desiredState: r.chance(0.6) ? 'running' : 'shutdown',
        state,
        specHash: iteration === ITERATION ? service.specHash : r.pick(hashes),
        ...(job ? { jobIteration: iteration } : {}),
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
 * pending in its slot (on its node, for a global service), made now from the current spec (and a
 * job's current iteration); the update status is written; a rollback swaps Spec and PreviousSpec.
 */
export function apply(world: World, plan: Plan, now: number): World {
  const stopping = new Set(plan.shutdown.map((s) => s.taskId));
  const tasks = world.tasks.map((t): TaskView => {
    if (!stopping.has(t.id)) return t;
    return { ...t, desiredState: 'shutdown', state: t.state === 'new' || t.state === 'pending' ? 'shutdown' : t.state };
  });
  const job = world.service.jobStatus ? { jobIteration: world.service.jobStatus.JobIteration.Index } : {};
  for (const c of plan.create) {
    tasks.push({ id: `new${++made}`, slot: c.slot, nodeId: c.nodeId, desiredState: 'running', state: 'pending', specHash: world.service.specHash, ...job, statusAt: now, createdAt: now });
  }
  let service = world.service;
  if (plan.updateStatus !== undefined) service = { ...service, updateStatus: plan.updateStatus };
  if (plan.rollback && service.previousSpec) {
    service = { ...service, spec: service.previousSpec, previousSpec: service.spec, specHash: specHashOf(service.previousSpec) };
  }
  return { ...world, service, tasks };
}

export const takesNewTasks = (n: NodeView | undefined) => n?.state === 'ready' && n.availability === 'active';

/**
 * What happens between passes, all of it at once and without failures: the scheduler places each
 * pending task (on the first node that takes new tasks; a global one on its own node, if that node
 * takes them), the agents run every placed live task, a job's running task completes, and every
 * task told to stop on a reachable node has stopped.
 */
export function progress(world: World, now: number): World {
  const nodeById = new Map(world.nodes.map((n) => [n.id, n]));
  const job = isJob(world.service.spec);
  const tasks = world.tasks.map((t): TaskView => {
    if (isTerminal(t.state)) return t;
    const reachable = nodeById.get(t.nodeId ?? '')?.state === 'ready';
    if (!isLive(t)) return reachable ? { ...t, state: 'shutdown', statusAt: now } : t;
    if (t.state === 'new' || t.state === 'pending') {
      const node = t.nodeId === null ? world.nodes.find(takesNewTasks) : nodeById.get(t.nodeId);
      return takesNewTasks(node) ? { ...t, nodeId: node!.id, state: 'running', statusAt: now } : t;
    }
    if (job && reachable && t.state === 'running') return { ...t, state: 'complete', statusAt: now };
    return reachable && t.state !== 'running' ? { ...t, state: 'running', statusAt: now } : t;
  });
  return { ...world, tasks };
}

export const isEmpty = (p: Plan) => p.create.length === 0 && p.shutdown.length === 0 && p.updateStatus === undefined && !p.rollback;
export const plan = (w: World, now: number) => reconcileService(w.service, w.tasks, w.nodes, now);
export const slotKey = (w: World, t: Pick<TaskView, 'slot' | 'nodeId'>) => (onePerNode(w.service.spec) ? (t.nodeId ?? '') : String(t.slot));
/** Every task of a service counts, but of a job only those of its current iteration: the others are history. */
export const ofThisRun = (w: World, t: TaskView) => !w.service.jobStatus || t.jobIteration === w.service.jobStatus.JobIteration.Index;

export const newestIn = (w: World, key: string) => w.tasks.filter((t) => ofThisRun(w, t) && slotKey(w, t) === key).sort((a, b) => b.createdAt - a.createdAt)[0];
export const exitedOnItsOwn = (t: TaskView | undefined) => ['complete', 'failed', 'rejected'].includes(t?.state ?? '');

/** The slots the service wants, by key: its replicas (a job's completions), or the nodes its global tasks may run on. */
export function wantedSlots(w: World): Set<string> {
  if (!onePerNode(w.service.spec)) {
    const job = replicatedJobOf(w.service.spec);
    return new Set(Array.from({ length: job ? job.totalCompletions : replicasOf(w.service.spec) }, (_, i) => String(job ? i : i + 1)));
  }
  const constrained = (w.service.spec.TaskTemplate.Placement?.Constraints ?? []).length > 0;
  // A paused node keeps the tasks it has (being replaced or not) but takes no new ones.
  const occupied = new Set(w.tasks.filter((t) => ofThisRun(w, t) && !isTerminal(t.state)).map((t) => t.nodeId));
  // A down node keeps its live task's slot (and takes no new task).
  const kept = new Set(w.tasks.filter((t) => ofThisRun(w, t) && isLive(t) && !isTerminal(t.state)).map((t) => t.nodeId));
  const eligible = (n: NodeView) => (n.state === 'ready' && (n.availability !== 'pause' || occupied.has(n.id))) || (n.state === 'down' && kept.has(n.id));
  return new Set(
    w.nodes
      .filter((n) => n.availability !== 'drain' && eligible(n))
      .filter((n) => !constrained || n.labels.zone === 'east')
      .map((n) => n.id),
  );
}

/** One pass: the plan made for `before` at `now`, and the world once it is applied. */
export interface Pass {
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
export function simulate(seed: number, check: (pass: Pass) => void = () => {}) {
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
