/** Labels that tie a container to a task. The agent touches only containers carrying both of ours. */
export const TASK_LABEL = 'swarmlet.task.id';
export const NODE_LABEL = 'swarmlet.node.id';
export const SERVICE_ID_LABEL = 'swarmlet.service.id';
export const SERVICE_NAME_LABEL = 'swarmlet.service.name';
export const SLOT_LABEL = 'swarmlet.slot';
/** `--container-label swarmlet.init=false` opts a service out of the init process the agent adds. */
export const INIT_LABEL = 'swarmlet.init';

/** Docker filter selecting this node's task containers (and optionally one task's). */
export function ownedFilter(nodeId: string, taskId?: string) {
  const label = [`${NODE_LABEL}=${nodeId}`];
  if (taskId) label.push(`${TASK_LABEL}=${taskId}`);
  return { label };
}

/** True only for a container that carries our task label and this node's ID. */
export function isOwned(labels: Record<string, string> | undefined, nodeId: string): boolean {
  return !!labels?.[TASK_LABEL] && labels[NODE_LABEL] === nodeId;
}
