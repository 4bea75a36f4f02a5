/**
 * Machines in the database: loading with the caller's relation to them (owner, access to the
 * machine's group), asking the policy module, and shaping rows for the API.
 */
import type { Queryable } from '../db/database.ts';
import type { Caller } from '../auth/authenticate.ts';
import { loadActor } from '../auth/authenticate.ts';
import { allowedMachineActions, decideMachineAction, machineAccess, type Actor } from '../policy/permissions.ts';
import { ApiError } from '../http/problem.ts';
import type { Machine, MachineStatus } from '../../../protocol/cloud-api.ts';
import { NO_ROLES, actorsByEnvironment, toIso, toIsoRequired, type AccessOrNone } from './common.ts';

export type MachineRow = {
  id: string;
  environment_id: string;
  owner_id: string;
  owner_display_name: string;
  name: string;
  description: string;
  signing_public_key: string;
  encryption_public_key: string;
  os: string | null;
  runtime_version: string | null;
  group_id: string | null;
  status: 'Online' | 'Offline';
  last_seen_at: Date | string | null;
  clone_suspected: boolean;
  maintenance: boolean;
  group_maintenance: boolean | null;
  created_at: Date | string;
  /** The caller's access to the machine's group (Owner / CoOwner / User), or null. */
  group_access: AccessOrNone;
  /** A run is assigned to or running on the machine. */
  busy: boolean;
}

const MACHINE_SELECT = `
  SELECT m.id, m.environment_id, m.owner_id, u.display_name AS owner_display_name, m.name, m.description,
         m.signing_public_key, m.encryption_public_key, m.os, m.runtime_version, m.group_id, m.status,
         m.last_seen_at, m.clone_suspected, m.maintenance, g.maintenance AS group_maintenance, m.created_at,
         CASE WHEN g.owner_id = $1 THEN 'Owner' ELSE ga.level END AS group_access,
         EXISTS (SELECT 1 FROM runs r WHERE r.machine_id = m.id AND r.status IN ('Assigned', 'Running')) AS busy
    FROM machines m
    JOIN users u ON u.id = m.owner_id
    LEFT JOIN machine_groups g ON g.id = m.group_id
    LEFT JOIN group_access ga ON ga.group_id = m.group_id AND ga.user_id = $1`;

export async function loadMachine(db: Queryable, userId: string, machineId: string): Promise<MachineRow | null> {
  const [row] = await db.query<MachineRow>(`${MACHINE_SELECT} WHERE m.id = $2`, [userId, machineId]);
  return row ?? null;
}

/** Machines user `userId` might see: in their environments, their own, or in groups shared with them. */
export async function candidateMachines(
  db: Queryable,
  userId: string,
  filter: { environmentId?: string; groupId?: string } = {},
): Promise<MachineRow[]> {
  return db.query<MachineRow>(
    `${MACHINE_SELECT}
      WHERE (m.environment_id IN (SELECT environment_id FROM role_assignments WHERE user_id = $1)
             OR m.owner_id = $1 OR g.owner_id = $1 OR ga.user_id IS NOT NULL)
        AND ($2::uuid IS NULL OR m.environment_id = $2::uuid)
        AND ($3::uuid IS NULL OR m.group_id = $3::uuid)
      ORDER BY lower(m.name), m.id`,
    [userId, filter.environmentId ?? null, filter.groupId ?? null],
  );
}

export function relationOf(row: MachineRow, userId: string) {
  return { ownsMachine: row.owner_id === userId, groupAccess: row.group_access };
}

/**
 * What the app shows: Maintenance when the machine or its group is in maintenance, Busy while
 * an online machine has a run assigned or running, else the presence the agent hub keeps.
 */
export function machineStatus(row: Pick<MachineRow, 'status' | 'maintenance' | 'group_maintenance' | 'busy'>): MachineStatus {
  if (row.maintenance || row.group_maintenance) return 'Maintenance';
  if (row.status === 'Online' && row.busy) return 'Busy';
  return row.status;
}

export function machineView(row: MachineRow, actor: Actor, userId: string): Machine {
  const relation = relationOf(row, userId);
  return {
    id: row.id,
    environmentId: row.environment_id,
    name: row.name,
    description: row.description,
    status: machineStatus(row),
    groupId: row.group_id,
    owner: { id: row.owner_id, displayName: row.owner_display_name },
    access: machineAccess(relation),
    lastSeenAt: toIso(row.last_seen_at),
    runtimeVersion: row.runtime_version,
    os: row.os,
    cloneSuspected: row.clone_suspected,
    maintenance: row.maintenance,
    signingPublicKey: row.signing_public_key,
    encryptionPublicKey: row.encryption_public_key,
    allowedActions: allowedMachineActions(actor, relation),
    createdAt: toIsoRequired(row.created_at),
  };
}

/** The machines the caller may see (optionally of one environment or group). */
export async function listVisibleMachines(
  db: Queryable,
  userId: string,
  filter: { environmentId?: string; groupId?: string } = {},
): Promise<Machine[]> {
  const [rows, actors] = await Promise.all([candidateMachines(db, userId, filter), actorsByEnvironment(db, userId)]);
  const views: Machine[] = [];
  for (const row of rows) {
    const actor = actors.get(row.environment_id) ?? NO_ROLES;
    if (decideMachineAction(actor, relationOf(row, userId), 'view') === 'allow') views.push(machineView(row, actor, userId));
  }
  return views;
}

/**
 * The machine, when the caller may take `action` on it. A machine token may always view its own
 * machine; otherwise it acts with its owner's rights. Invisible: 404; not allowed: 403.
 */
export async function authorizeMachine(
  db: Queryable,
  caller: Caller,
  machineId: string,
  action: 'view' | 'edit' | 'delete',
): Promise<{ machine: MachineRow; actor: Actor }> {
  const machine = await loadMachine(db, caller.userId, machineId);
  if (!machine) throw new ApiError('NotFound', 'The machine was not found.');
  const actor = await loadActor(db, caller.userId, machine.environment_id);
  if (caller.kind === 'machine' && caller.machineId === machineId && action === 'view') return { machine, actor };
  const decision = decideMachineAction(actor, relationOf(machine, caller.userId), action);
  if (decision === 'hidden') throw new ApiError('NotFound', 'The machine was not found.');
  if (decision === 'forbidden') {
    throw new ApiError('Forbidden', action === 'edit' ? 'You may not edit this machine.' : 'You may not delete this machine.');
  }
  return { machine, actor };
}

/** Marks the connections that target the machine itself as broken; returns how many. */
export async function breakMachineConnections(tx: Queryable, machineId: string, reason: string): Promise<number> {
  const rows = await tx.query(
    `UPDATE connections SET status = 'Broken', broken_reason = $2
      WHERE target_type = 'Machine' AND target_id = $1 AND status <> 'Broken' RETURNING id`,
    [machineId, reason],
  );
  return rows.length;
}
