/**
 * What a connection or run targets (a machine group or one machine) and how the caller relates
 * to it, loaded once so the policy module can decide.
 */
import type { Queryable } from '../db/database.ts';
import type { AccessLevel, EnvironmentRole } from '../../../protocol/cloud-api.ts';
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

/** The access a group's row and its sharing row give `userId`: Owner (implicit), CoOwner/User (shared) or null. */
function accessFrom(ownerId: string | null, level: AccessLevel | null, userId: string): AccessLevel | null {
  if (ownerId === null) return null; // no such group
  return ownerId === userId ? 'Owner' : level;
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
  return row ? accessFrom(row.owner_id, row.level, userId) : null;
}

/** What queueing a run on one of the caller's connections needs to know, before deciding. */
export interface RunRequest {
  connection: {
    id: string;
    environmentId: string;
    status: string;
    brokenReason: string | null;
  };
  /** The flow, when it is in the connection's environment. */
  flow: { id: string; name: string } | null;
  /** The connection's target as `loadTarget` reads it; null when it was deleted. */
  target: TargetInfo | null;
  /** The caller's roles in the target's environment (as `loadActor`). */
  actor: Actor;
}

/**
 * The caller's connection, the flow, the connection's target, the caller's access to it and
 * roles in its environment — what the connection, flow, `loadTarget` and `loadActor` queries
 * read one after the other — in ONE prepared statement (POST /runs is the hot path: every round
 * trip costs both the cloud and the database CPU). Null when the connection is not the caller's.
 */
export async function loadRunRequest(db: Queryable, userId: string, connectionId: string, flowId: string): Promise<RunRequest | null> {
  const [row] = await db.query<{
    connection_id: string;
    environment_id: string;
    target_type: TargetType;
    target_id: string;
    status: string;
    broken_reason: string | null;
    flow_id: string | null;
    flow_name: string | null;
    target_environment_id: string | null;
    target_name: string | null;
    encryption_public_key: string | null;
    machine_owner_id: string | null;
    target_group_id: string | null;
    group_owner_id: string | null;
    level: AccessLevel | null;
    roles: EnvironmentRole[] | null;
  }>(
    `SELECT c.id AS connection_id, c.environment_id, c.target_type, c.target_id, c.status, c.broken_reason,
            f.id AS flow_id, f.name AS flow_name,
            t.environment_id AS target_environment_id, t.name AS target_name, t.encryption_public_key,
            t.machine_owner_id, t.group_id AS target_group_id, g.owner_id AS group_owner_id, a.level,
            ARRAY(SELECT r.role FROM role_assignments r WHERE r.user_id = $2 AND r.environment_id = t.environment_id) AS roles
       FROM connections c
       LEFT JOIN desktop_flows f ON f.id = $3 AND f.environment_id = c.environment_id
       LEFT JOIN LATERAL (
         SELECT tg.environment_id, tg.name, tg.encryption_public_key, NULL::uuid AS machine_owner_id, tg.id AS group_id
           FROM machine_groups tg WHERE c.target_type = 'MachineGroup' AND tg.id = c.target_id
         UNION ALL
         SELECT tm.environment_id, tm.name, tm.encryption_public_key, tm.owner_id, tm.group_id
           FROM machines tm WHERE c.target_type = 'Machine' AND tm.id = c.target_id
       ) t ON true
       LEFT JOIN machine_groups g ON g.id = t.group_id
       LEFT JOIN group_access a ON a.group_id = t.group_id AND a.user_id = $2
      WHERE c.id = $1 AND c.owner_id = $2`,
    [connectionId, userId, flowId],
    { prepare: true },
  );
  if (!row) return null;
  const type = row.target_type;
  const target: TargetInfo | null =
    row.target_environment_id === null
      ? null
      : {
          type,
          id: row.target_id,
          environmentId: row.target_environment_id,
          name: row.target_name!,
          encryptionPublicKey: row.encryption_public_key,
          access: row.target_group_id ? accessFrom(row.group_owner_id, row.level, userId) : null,
          ownsMachine: type === 'Machine' && row.machine_owner_id === userId,
          groupId: row.target_group_id,
        };
  return {
    connection: { id: row.connection_id, environmentId: row.environment_id, status: row.status, brokenReason: row.broken_reason },
    flow: row.flow_id ? { id: row.flow_id, name: row.flow_name! } : null,
    target,
    actor: { roles: new Set(row.roles ?? []) },
  };
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

/** How a user relates to a run's target: the same for every run of that target (only "queued it" differs). */
export type RunTargetRelation =
  | { type: 'MachineGroup'; access: AccessLevel | null }
  | { type: 'Machine'; ownsMachine: boolean; groupAccess: AccessLevel | null };

export async function runTargetRelation(
  db: Queryable,
  userId: string,
  run: { environment_id: string; group_id: string | null; target_machine_id: string | null },
): Promise<{ actor: Actor; target: RunTargetRelation }> {
  const actor = await loadActor(db, userId, run.environment_id);
  if (run.group_id) return { actor, target: { type: 'MachineGroup', access: await groupAccessOf(db, run.group_id, userId) } };
  const machine = await loadTarget(db, 'Machine', run.target_machine_id!, userId);
  return { actor, target: { type: 'Machine', ownsMachine: machine?.ownsMachine ?? false, groupAccess: machine?.access ?? null } };
}

export async function decideRunVisibility(
  db: Queryable,
  userId: string,
  run: { environment_id: string; created_by: string; group_id: string | null; target_machine_id: string | null },
  action: RunAction,
): Promise<Decision> {
  const { actor, target } = await runTargetRelation(db, userId, run);
  return decideRunAction(actor, { isCreator: run.created_by === userId, target }, action);
}
