import { and, eq, inArray } from 'drizzle-orm';
import type { TaskFile } from '../../protocol/agent-api.ts';
import type { TaskSpec } from '../../protocol/task-spec.ts';
import { secretOpener } from '../auth/data-keys.ts';
import type { KeyRing } from '../auth/envelope.ts';
import type { Reader } from '../db/database.ts';
import { payloads, TERMINAL_STATES } from '../db/schema/index.ts';
import { base64Of } from '../swarm/payloads.ts';

type TaskRow = { id: string; desiredState: string; state: string; spec: TaskSpec };

/** Where dockerd puts them: a relative secret target under /run/secrets, a relative config target under /. */
const targetOf = (name: string, kind: 'secret' | 'config') => (name.startsWith('/') ? name : kind === 'secret' ? `/run/secrets/${name}` : `/${name}`);

/** A task still to run needs its files; one being stopped has them in its container already. */
const needsFiles = (t: TaskRow) => (t.desiredState === 'running' || t.desiredState === 'ready') && !TERMINAL_STATES.includes(t.state as never);

/**
 * The files each of a node's tasks is to be given, values opened: only for tasks still to run, and
 * only the secrets and configs those tasks refer to.
 */
export async function taskFiles(db: Reader, kek: KeyRing, clusterId: string, rows: TaskRow[]): Promise<Map<string, TaskFile[]>> {
  const wanting = rows.filter((t) => needsFiles(t) && (t.spec.ContainerSpec?.Secrets?.length || t.spec.ContainerSpec?.Configs?.length));
  const files = new Map<string, TaskFile[]>();
  if (!wanting.length) return files;
  const ids = wanting.flatMap((t) => [...(t.spec.ContainerSpec?.Secrets ?? []).map((r) => r.SecretID), ...(t.spec.ContainerSpec?.Configs ?? []).map((r) => r.ConfigID)]);
  const stored = await db.select().from(payloads).where(and(eq(payloads.clusterId, clusterId), inArray(payloads.id, [...new Set(ids)])));
  const open = stored.some((p) => p.kind === 'secret') ? await secretOpener(db, kek, clusterId) : undefined;
  const values = new Map<string, string>();
  for (const p of stored) values.set(p.id, p.kind === 'secret' ? base64Of(await open!(p.id, p.data)) : p.data);
  for (const t of wanting) {
    const refs = [
      ...(t.spec.ContainerSpec?.Secrets ?? []).map((r) => ({ id: r.SecretID, file: r.File, kind: 'secret' as const })),
      ...(t.spec.ContainerSpec?.Configs ?? []).map((r) => ({ id: r.ConfigID, file: r.File, kind: 'config' as const })),
    ];
    files.set(
      t.id,
      refs.flatMap(({ id, file, kind }) => {
        const data = values.get(id);
        // A runtime config has no file; a payload removed since (with its service updated) has none either.
        if (!file || data === undefined) return [];
        return [{ target: targetOf(file.Name, kind), uid: file.UID || '0', gid: file.GID || '0', mode: file.Mode ?? 0o444, data }];
      }),
    );
  }
  return files;
}
