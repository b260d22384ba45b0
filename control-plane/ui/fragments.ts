/**
 * The dashboard's live parts: each a table rendered on the server from the Docker API's objects,
 * sent whole on first load and again, by id, whenever the cluster's index moves.
 */
import { html } from 'hono/html';
import type { DockerEvent, DockerNode, DockerService, DockerTask } from './docker-reads.ts';

type Html = ReturnType<typeof html>;

const GIB = 1024 ** 3;
const cpus = (nano: number) => (nano / 1e9).toFixed(nano % 1e9 ? 1 : 0);
const memory = (bytes: number) => (bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`);
const short = (id: string) => id.slice(0, 12);

/** "3s", "4m", "2h", "5d" ago: how long since, in the unit a reader wants. */
export function age(since: string | number, now: number): string {
  const s = Math.max(0, Math.round((now - (typeof since === 'number' ? since : Date.parse(since))) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const live = (t: DockerTask) => t.DesiredState === 'running' || t.DesiredState === 'ready';

function table(caption: string, head: string[], rows: Html[], empty: string): Html {
  return html`<table><caption>${caption}</caption><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${
    rows.length ? rows : html`<tr><td colspan="${head.length}">${empty}</td></tr>`
  }</tbody></table>`;
}

export function nodesTable(nodes: DockerNode[], tasks: DockerTask[]): Html {
  const running = (id: string) => tasks.filter((t) => 'NodeID' in t && t.NodeID === id && t.Status.State === 'running').length;
  return table(
    'Nodes',
    ['Host', 'Role', 'State', 'Availability', 'CPUs', 'Memory', 'Running tasks'],
    nodes.map(
      (n) => html`<tr>
        <th scope="row">${n.Description.Hostname}</th><td>${n.Spec.Role}${n.ManagerStatus?.Leader ? ' (leader)' : ''}</td>
        <td><span class="state state-${n.Status.State}">${n.Status.State}</span></td><td>${n.Spec.Availability}</td>
        <td>${cpus(n.Description.Resources.NanoCPUs)}</td><td>${memory(n.Description.Resources.MemoryBytes)}</td><td>${running(n.ID)}</td></tr>`,
    ),
    'no nodes',
  );
}

function modeOf(s: DockerService): string {
  const mode = s.Spec.Mode ?? {};
  if ('Global' in mode) return 'global';
  if ('ReplicatedJob' in mode) return 'replicated job';
  if ('GlobalJob' in mode) return 'global job';
  return 'replicated';
}

function portsOf(s: DockerService): string {
  return (s.Endpoint.Ports ?? []).map((p) => `${p.PublishedPort ?? ''}:${p.TargetPort}/${p.Protocol ?? 'tcp'}`).join(', ');
}

/** The update's state and, while it runs, how many of the desired tasks run the new spec. */
function updateOf(s: DockerService, tasks: DockerTask[]): string {
  const u = s.UpdateStatus;
  if (!u) return '';
  if (u.State !== 'updating' && u.State !== 'rollback_started') return u.State.replace('_', ' ');
  const started = u.StartedAt ? Date.parse(u.StartedAt) : 0;
  const done = tasks.filter((t) => t.ServiceID === s.ID && live(t) && t.Status.State === 'running' && Date.parse(t.CreatedAt) >= started).length;
  return `${u.State.replace('_', ' ')} ${done}/${s.ServiceStatus?.DesiredTasks ?? '?'}`;
}

export function servicesTable(services: DockerService[], tasks: DockerTask[]): Html {
  return table(
    'Services',
    ['Name', 'Mode', 'Running / desired', 'Image', 'Ports', 'Update'],
    services.map(
      (s) => html`<tr>
        <th scope="row"><a href="/ui/services/${s.ID}">${s.Spec.Name}</a></th><td>${modeOf(s)}</td>
        <td class="replicas">${s.ServiceStatus?.RunningTasks ?? 0}/${s.ServiceStatus?.DesiredTasks ?? 0}</td>
        <td><code>${s.Spec.TaskTemplate?.ContainerSpec?.Image ?? ''}</code></td><td>${portsOf(s)}</td><td>${updateOf(s, tasks)}</td></tr>`,
    ),
    'no services',
  );
}

/** Why a task is where it is: the scheduler's reason for a pending one, the engine's error for a failed one. */
const reasonOf = (t: DockerTask) => ('Err' in t.Status && t.Status.Err ? t.Status.Err : t.Status.Message);

export function tasksTable(tasks: DockerTask[], names: Map<string, string>, hosts: Map<string, string>, now: number, caption = 'Tasks'): Html {
  // By service and slot, each slot's newest task first and its history (greyed) under it.
  const sorted = [...tasks].sort((a, b) => a.ServiceID.localeCompare(b.ServiceID) || (a.Slot ?? 0) - (b.Slot ?? 0) || Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt));
  return table(
    caption,
    ['Task', 'Service', 'Slot', 'Node', 'Desired', 'State', 'Reason or error', 'Age'],
    sorted.map(
      (t) => html`<tr class="${live(t) ? '' : 'history'}">
        <th scope="row"><code>${short(t.ID)}</code></th><td>${names.get(t.ServiceID) ?? short(t.ServiceID)}</td><td>${t.Slot || ''}</td>
        <td>${'NodeID' in t && t.NodeID ? (hosts.get(t.NodeID) ?? short(t.NodeID)) : ''}</td><td>${t.DesiredState}</td>
        <td><span class="state state-${t.Status.State}">${t.Status.State}</span></td><td class="reason">${reasonOf(t)}</td><td>${age(t.CreatedAt, now)}</td></tr>`,
    ),
    'no tasks',
  );
}

/** The words a pending task's scheduler wrote, once per distinct reason. */
export function pendingReasons(tasks: DockerTask[]): Html {
  const reasons = [...new Set(tasks.filter((t) => live(t) && t.Status.State === 'pending').map(reasonOf).filter(Boolean))];
  if (!reasons.length) return html`<p>No task is waiting for a node.</p>`;
  return html`<p role="status">Waiting for a node:</p><ul class="pending">${reasons.map((r) => html`<li>${r}</li>`)}</ul>`;
}

export function eventsTable(events: DockerEvent[], now: number): Html {
  return table(
    'Events of the last hour, newest first',
    ['Age', 'Type', 'Action', 'Object'],
    events.map(
      (e) => html`<tr><td>${age(e.time * 1000, now)}</td><td>${e.Type}</td><td>${e.Action}</td><td>${e.Actor.Attributes.name ?? short(e.Actor.ID)}</td></tr>`,
    ),
    'no events',
  );
}
