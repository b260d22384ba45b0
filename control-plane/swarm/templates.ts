/**
 * Docker's service templates: `--hostname "{{.Node.Hostname}}-{{.Task.Slot}}"`, `--env` values and
 * `--mount` source and target may name the task's service, node and task, and each task gets its
 * own values. As in dockerd, the task keeps its spec as written (`docker inspect` shows the
 * template) and the expansion happens where the task is handed to its node: here, in the
 * assignment, where the node's reported hostname and platform are known.
 *
 * The placeholders are Go template actions of one field path (`{{.Service.Name}}`) or a label
 * lookup (`{{index .Service.Labels "key"}}`, `{{.Service.Labels.key}}`); a spec using anything
 * else is refused when the service is created, so an expansion never fails later.
 */
import type { Mount, TaskSpec } from '../../protocol/task-spec.ts';
import { invalid } from '../errors.ts';

export interface TemplateContext {
  Service: { ID: string; Name: string; Labels: Record<string, string> };
  Node: { ID: string; Hostname: string; Platform: { OS: string; Architecture: string } };
  Task: { ID: string; Name: string; Slot: string };
}

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g;
const FIELDS: Record<string, (c: TemplateContext) => string> = {
  '.Service.ID': (c) => c.Service.ID,
  '.Service.Name': (c) => c.Service.Name,
  '.Node.ID': (c) => c.Node.ID,
  '.Node.Hostname': (c) => c.Node.Hostname,
  '.Node.Platform.OS': (c) => c.Node.Platform.OS,
  '.Node.Platform.Architecture': (c) => c.Node.Platform.Architecture,
  '.Task.ID': (c) => c.Task.ID,
  '.Task.Name': (c) => c.Task.Name,
  '.Task.Slot': (c) => c.Task.Slot,
};
const LABEL_FIELD = /^\.Service\.Labels\.([A-Za-z0-9_]+)$/;
const LABEL_INDEX = /^index\s+\.Service\.Labels\s+"((?:[^"\\]|\\.)*)"$/;

/** What one action evaluates to; undefined when it is not one this project supports. */
function evaluate(action: string, ctx: TemplateContext | undefined): string | undefined {
  const label = LABEL_FIELD.exec(action)?.[1] ?? LABEL_INDEX.exec(action)?.[1]?.replace(/\\(.)/g, '$1');
  // A missing map key prints as Go's templates print it.
  if (label !== undefined) return ctx ? (ctx.Service.Labels[label] ?? '<no value>') : '';
  const field = FIELDS[action];
  if (!field) return undefined;
  return ctx ? field(ctx) : '';
}

function expand(text: string, ctx: TemplateContext | undefined, where: string): string {
  if (!text.includes('{{')) return text;
  return text.replace(ACTION, (_, action: string) => {
    const value = evaluate(action, ctx);
    if (value === undefined) {
      throw invalid(
        `${where}: template action {{${action}}} is not supported; use .Service.ID/.Name/.Labels, .Node.ID/.Hostname/.Platform.OS/.Platform.Architecture, or .Task.ID/.Name/.Slot`,
      );
    }
    return value;
  });
}

function expandMount(m: Mount, ctx: TemplateContext | undefined, i: number): Mount {
  return {
    ...m,
    ...(typeof m.Source === 'string' ? { Source: expand(m.Source, ctx, `ContainerSpec.Mounts[${i}].Source`) } : {}),
    ...(typeof m.Target === 'string' ? { Target: expand(m.Target, ctx, `ContainerSpec.Mounts[${i}].Target`) } : {}),
  };
}

/**
 * The task spec with its templates filled in for one task on one node; without a context, only
 * checks that every template is one that can be filled (for validation at create and update).
 */
export function expandTaskSpec(spec: TaskSpec, ctx?: TemplateContext): TaskSpec {
  const c = spec.ContainerSpec;
  if (!c) return spec;
  return {
    ...spec,
    ContainerSpec: {
      ...c,
      ...(c.Hostname !== undefined ? { Hostname: expand(c.Hostname, ctx, 'ContainerSpec.Hostname') } : {}),
      ...(c.Env ? { Env: c.Env.map((e) => expand(e, ctx, 'ContainerSpec.Env')) } : {}),
      ...(c.Mounts ? { Mounts: c.Mounts.map((m, i) => expandMount(m, ctx, i)) } : {}),
    },
  };
}

/** Whether a task spec uses templates in the fields that take them: most do not, and their assignments skip the work. */
export function hasTemplates(spec: TaskSpec): boolean {
  const c = spec.ContainerSpec;
  if (!c) return false;
  const has = (text: unknown) => typeof text === 'string' && text.includes('{{');
  return has(c.Hostname) || (c.Env ?? []).some(has) || (c.Mounts ?? []).some((m) => has(m.Source) || has(m.Target));
}

/** The values a task's templates see: its service, its node (as the node reported itself) and itself. */
export function taskTemplateContext(
  t: { id: string; serviceId: string; serviceName: string | null; serviceLabels: string | null; slot: number },
  node: { id: string; hostname: string; description: { os: string; arch: string } },
): TemplateContext {
  const service = t.serviceName ?? '';
  const slot = t.slot > 0 ? String(t.slot) : node.id;
  return {
    Service: { ID: t.serviceId, Name: service, Labels: t.serviceLabels ? JSON.parse(t.serviceLabels) : {} },
    Node: { ID: node.id, Hostname: node.hostname, Platform: { OS: node.description.os, Architecture: node.description.arch } },
    Task: { ID: t.id, Name: `${service}.${slot}.${t.id}`, Slot: slot },
  };
}

