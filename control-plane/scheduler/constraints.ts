/** Placement constraints as Docker writes them: `node.hostname==web1`, `node.labels.zone!=east`. */
export interface Constraint {
  key: string;
  equal: boolean;
  value: string;
}

export interface ConstraintTarget {
  id: string;
  hostname: string;
  role: string;
  labels: Record<string, string>;
  engineLabels: Record<string, string>;
  os: string;
  arch: string;
}

const PATTERN = /^\s*([\w.-]+)\s*(==|!=)\s*(.*?)\s*$/;
const KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];

/** Whether a constraint or spread preference may name this node attribute. */
export function isNodeAttribute(key: string): boolean {
  return KEYS.includes(key) || key.startsWith('node.labels.') || key.startsWith('engine.labels.');
}

export function parseConstraint(text: string): Constraint {
  const m = PATTERN.exec(text);
  if (!m) throw new Error(`invalid constraint '${text}': expected <key>==<value> or <key>!=<value>`);
  const [, key, op, value] = m as unknown as [string, string, string, string];
  if (!isNodeAttribute(key)) {
    throw new Error(`invalid constraint '${text}': unknown key '${key}'`);
  }
  return { key, equal: op === '==', value };
}

/** A node attribute by its constraint key (`node.labels.az`); undefined when the node has no such label. */
export function valueOf(key: string, node: ConstraintTarget): string | undefined {
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.hostname;
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.os;
    case 'node.platform.arch':
      return node.arch;
  }
  if (key.startsWith('node.labels.')) return node.labels[key.slice('node.labels.'.length)];
  return node.engineLabels[key.slice('engine.labels.'.length)];
}

/** Matches case-insensitively, as swarmkit does; a missing label fails `==` and passes `!=`. */
export function satisfies(constraint: Constraint, node: ConstraintTarget): boolean {
  const actual = valueOf(constraint.key, node);
  const same = actual !== undefined && actual.toLowerCase() === constraint.value.toLowerCase();
  return constraint.equal ? same : !same;
}
