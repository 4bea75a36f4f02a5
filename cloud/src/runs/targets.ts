/**
 * What a connection or run targets (a machine group or one machine) and how the caller relates
 * to it, loaded once so the policy module can decide.
 */
import type { Queryable } from '../db/database.ts';
import type { AccessLevel } from '../../../protocol/cloud-api.ts';
import type { Actor, Decision, RunAction } from '../policy/permissions.ts';
import { decideGroupAction, decideMachineRun, decideRunAction } from '../policy/permissions.ts';
import { loadActor } from '../auth/authenticate.ts';

export type TargetType = 'MachineGroup' | 'Machine';

export interface TargetInfo {
  type: TargetType;
  id: string;
  environmentId: string;
  name: string;
  /** Raw X25519 public key (base64) credentials are sealed to; null: a group without a key yet. */
  encryptionPublicKey: string | null;
  /** For a group: the caller's access. For a machine: the caller's access to its group. */
  access: AccessLevel | null;
  ownsMachine: boolean;
  groupId: string | null;
}

/** Access of `userId` to a group: Owner (implicit), CoOwner/User (shared) or null. */
export async function groupAccessOf(db: Queryable, groupId: string, userId: string): Promise<AccessLevel | null> {
  const [row] = await db.query<{ owner_id: string; level: AccessLevel | null }>(
    `SELECT g.owner_id, a.level FROM machine_groups g
       LEFT JOIN group_access a ON a.group_id = g.id AND a.user_id = $2
      WHERE g.id = $1`,
    [groupId, userId],
    { prepare: true },
  );
  if (!row) return null;
  return row.owner_id === userId ? 'Owner' : row.level;
}

export async function loadTarget(db: Queryable, type: TargetType, id: string, userId: string): Promise<TargetInfo | null> {
  if (type === 'MachineGroup') {
    const [group] = await db.query<{ id: string; environment_id: string; name: string; encryption_public_key: string | null }>(
      'SELECT id, environment_id, name, encryption_public_key FROM machine_groups WHERE id = $1',
      [id],
      { prepare: true },
    );
    if (!group) return null;
    return {
      type,
      id,
      environmentId: group.environment_id,
      name: group.name,
      encryptionPublicKey: group.encryption_public_key,
      access: await groupAccessOf(db, id, userId),
      ownsMachine: false,
      groupId: id,
    };
  }
  const [machine] = await db.query<{
    id: string;
    environment_id: string;
    name: string;
    encryption_public_key: string;
    owner_id: string;
    group_id: string | null;
  }>('SELECT id, environment_id, name, encryption_public_key, owner_id, group_id FROM machines WHERE id = $1', [id]);
  if (!machine) return null;
  return {
    type,
    id,
    environmentId: machine.environment_id,
    name: machine.name,
    encryptionPublicKey: machine.encryption_public_key,
    access: machine.group_id ? await groupAccessOf(db, machine.group_id, userId) : null,
    ownsMachine: machine.owner_id === userId,
    groupId: machine.group_id,
  };
}

/** May the caller run flows on this target? */
export function decideRunOnTarget(actor: Actor, target: TargetInfo): Decision {
  return target.type === 'MachineGroup'
    ? decideGroupAction(actor, target.access, 'run')
    : decideMachineRun(actor, { ownsMachine: target.ownsMachine, groupAccess: target.access });
}

export async function decideRunVisibility(
  db: Queryable,
  userId: string,
  run: { environment_id: string; created_by: string; group_id: string | null; target_machine_id: string | null },
  action: RunAction,
): Promise<Decision> {
  const actor = await loadActor(db, userId, run.environment_id);
  const isCreator = run.created_by === userId;
  if (run.group_id) {
    const access = await groupAccessOf(db, run.group_id, userId);
    return decideRunAction(actor, { isCreator, target: { type: 'MachineGroup', access } }, action);
  }
  const target = await loadTarget(db, 'Machine', run.target_machine_id!, userId);
  return decideRunAction(
    actor,
    { isCreator, target: { type: 'Machine', ownsMachine: target?.ownsMachine ?? false, groupAccess: target?.access ?? null } },
    action,
  );
}
