/**
 * Machine groups in the database: loading a group with the caller's access, asking the policy
 * module what the caller may do, and shaping rows for the API.
 */
import type { Queryable } from '../db/database.ts';
import type { Caller } from '../auth/authenticate.ts';
import { loadActor } from '../auth/authenticate.ts';
import { allowedGroupActions, canSeeGroup, decideGroupAction, type Actor, type GroupAction } from '../policy/permissions.ts';
import { ApiError } from '../http/problem.ts';
import type { AccessLevel, MachineGroup } from '../../../protocol/cloud-api.ts';
import { GROUP_ACCESS_SQL, NO_ROLES, actorsByEnvironment, toIso, toIsoRequired, type AccessOrNone } from '../machines/common.ts';
import { groupRunCounts } from './run-counts.ts';

export type GroupRow = {
  id: string;
  environment_id: string;
  owner_id: string;
  owner_display_name: string;
  name: string;
  description: string;
  key_bundle: string | null;
  signing_public_key: string | null;
  encryption_public_key: string | null;
  key_version: number;
  password_changed_at: Date | string | null;
  maintenance: boolean;
  created_at: Date | string;
  machine_count: number;
  /** The caller's access (Owner / CoOwner / User), or null. */
  access: AccessOrNone;
}

const GROUP_SELECT = `
  SELECT g.id, g.environment_id, g.owner_id, u.display_name AS owner_display_name, g.name, g.description,
         g.key_bundle, g.signing_public_key, g.encryption_public_key, g.key_version, g.password_changed_at,
         g.maintenance, g.created_at,
         (SELECT count(*)::int FROM machines m WHERE m.group_id = g.id) AS machine_count,
         ${GROUP_ACCESS_SQL} AS access
    FROM machine_groups g
    JOIN users u ON u.id = g.owner_id
    LEFT JOIN group_access ga ON ga.group_id = g.id AND ga.user_id = $1`;

/** One group with the access of user `userId`, or null. */
export async function loadGroup(db: Queryable, userId: string, groupId: string): Promise<GroupRow | null> {
  const [row] = await db.query<GroupRow>(`${GROUP_SELECT} WHERE g.id = $2`, [userId, groupId]);
  return row ?? null;
}

/**
 * The groups user `userId` might see: those in environments where they have a role, and those
 * they own or that are shared with them. The policy module decides which of these they see.
 */
export async function candidateGroups(db: Queryable, userId: string, environmentId?: string): Promise<GroupRow[]> {
  return db.query<GroupRow>(
    `${GROUP_SELECT}
      WHERE (g.environment_id IN (SELECT environment_id FROM role_assignments WHERE user_id = $1)
             OR g.owner_id = $1 OR ga.user_id IS NOT NULL)
        AND ($2::uuid IS NULL OR g.environment_id = $2::uuid)
      ORDER BY lower(g.name), g.id`,
    [userId, environmentId ?? null],
  );
}

export interface AuthorizedGroup {
  group: GroupRow;
  actor: Actor;
  access: AccessLevel | null;
}

/**
 * The group, when the caller may take `action` on it (or see it, for 'view'). Unknown or
 * invisible: 404; visible but not allowed: 403. A machine token acts with its owner's access.
 */
export async function authorizeGroup(
  db: Queryable,
  caller: Caller,
  groupId: string,
  action: GroupAction | 'view',
): Promise<AuthorizedGroup> {
  const group = await loadGroup(db, caller.userId, groupId);
  if (!group) throw new ApiError('NotFound', 'The machine group was not found.');
  const actor = await loadActor(db, caller.userId, group.environment_id);
  const access = group.access;
  if (!canSeeGroup(actor, access)) throw new ApiError('NotFound', 'The machine group was not found.');
  if (action !== 'view') {
    const decision = decideGroupAction(actor, access, action);
    if (decision === 'hidden') throw new ApiError('NotFound', 'The machine group was not found.');
    if (decision === 'forbidden') throw new ApiError('Forbidden', forbiddenText(action));
  }
  return { group, actor, access };
}

function forbiddenText(action: GroupAction): string {
  switch (action) {
    case 'run':
      return 'You may not run desktop flows on this machine group.';
    case 'share':
      return 'You may not share this machine group.';
    case 'addMachines':
      return 'You may not add machines to this machine group.';
    case 'removeMachines':
      return 'You may not remove machines from this machine group.';
    case 'editDetails':
      return 'You may not edit this machine group.';
    case 'delete':
      return 'You may not delete this machine group.';
  }
}

/** The API shape of a group for a caller (counts of runs come from run-counts.ts). */
export function groupView(row: GroupRow, actor: Actor, counts: { running: number; queued: number }): MachineGroup {
  return {
    id: row.id,
    environmentId: row.environment_id,
    name: row.name,
    description: row.description,
    machineCount: row.machine_count,
    runningCount: counts.running,
    queuedCount: counts.queued,
    access: row.access,
    owner: { id: row.owner_id, displayName: row.owner_display_name },
    hasPassword: row.key_bundle !== null,
    keyVersion: row.key_version,
    passwordChangedAt: toIso(row.password_changed_at),
    maintenance: row.maintenance,
    allowedActions: allowedGroupActions(actor, row.access),
    createdAt: toIsoRequired(row.created_at),
  };
}

export async function groupViews(db: Queryable, rows: GroupRow[], actorFor: (row: GroupRow) => Actor): Promise<MachineGroup[]> {
  const counts = await groupRunCounts(db, rows.map((row) => row.id));
  return rows.map((row) => groupView(row, actorFor(row), counts.get(row.id) ?? { running: 0, queued: 0 }));
}

/** The groups the caller may see, with their views. */
export async function listVisibleGroups(db: Queryable, userId: string, environmentId?: string): Promise<MachineGroup[]> {
  const [rows, actors] = await Promise.all([candidateGroups(db, userId, environmentId), actorsByEnvironment(db, userId)]);
  const actorFor = (row: GroupRow) => actors.get(row.environment_id) ?? NO_ROLES;
  const visible = rows.filter((row) => canSeeGroup(actorFor(row), row.access));
  return groupViews(db, visible, actorFor);
}

/** Refreshed view of one group after a change (counts included). */
export async function groupViewFor(db: Queryable, userId: string, groupId: string, actor: Actor): Promise<MachineGroup> {
  const row = await loadGroup(db, userId, groupId);
  if (!row) throw new ApiError('NotFound', 'The machine group was not found.');
  const [view] = await groupViews(db, [row], () => actor);
  return view!;
}
