/**
 * A task's Privileges as the engine's SecurityOpt strings, as dockerd's swarm executor turns them
 * (daemon/cluster/executor/container/container.go): no-new-privileges, seccomp, AppArmor and
 * SELinux labels. Unset or default parts add nothing, so the engine's defaults hold.
 */
import type { Privileges } from '../../protocol/task-spec.ts';

function selinuxOptions(context: Privileges['SELinuxContext']): string[] {
  if (!context) return [];
  if (context.Disable) return ['label=disable'];
  const parts: Array<[string, string | undefined]> = [['user', context.User], ['role', context.Role], ['type', context.Type], ['level', context.Level]];
  return parts.filter(([, v]) => v).map(([k, v]) => `label=${k}:${v}`);
}

export function securityOptions(privileges: Privileges | undefined): string[] | undefined {
  if (!privileges) return undefined;
  const out: string[] = [];
  if (privileges.NoNewPrivileges === true) out.push('no-new-privileges=true');
  if (privileges.Seccomp?.Mode === 'unconfined') out.push('seccomp=unconfined');
  if (privileges.Seccomp?.Mode === 'custom' && privileges.Seccomp.Profile) out.push(`seccomp=${privileges.Seccomp.Profile}`);
  if (privileges.AppArmor?.Mode === 'disabled') out.push('apparmor=unconfined');
  out.push(...selinuxOptions(privileges.SELinuxContext));
  return out.length ? out : undefined;
}
