/**
 * The permission rules, in one place (reference page: "Share a machine group" and
 * "Update permissions based on security role"). Every route asks this module; nothing
 * re-implements these tables.
 *
 * A user may act on a machine group when
 *   - they are EnvironmentAdmin of its environment (everything), or
 *   - their access to the group (Owner / CoOwner / User) allows the action AND one of their
 *     environment roles grants the matching privilege (as Dataverse combines record access
 *     with security-role privileges).
 * A user without any access to a group cannot see it: the answer is 404, not 403.
 */
import { RUN_QUEUE_ACTIONS, type AccessLevel, type EnvironmentRole, type RunQueueAction } from '../../../protocol/cloud-api.ts';

export type GroupAction = 'run' | 'share' | 'addMachines' | 'removeMachines' | 'editDetails' | 'delete';

export type Privilege =
  | 'registerMachine'
  | 'createGroup'
  | 'runFlow'
  | 'shareMachine'
  | 'shareGroup'
  | 'addMachineToGroup'
  | 'editMachine'
  | 'editGroup'
  | 'deleteMachine'
  | 'deleteGroup';

/** Group-level table: Owner and Co-owner may do everything, User may only run. */
export const GROUP_ACCESS_ALLOWS: Record<AccessLevel, readonly GroupAction[]> = {
  Owner: ['run', 'share', 'addMachines', 'removeMachines', 'editDetails', 'delete'],
  CoOwner: ['run', 'share', 'addMachines', 'removeMachines', 'editDetails', 'delete'],
  User: ['run'],
};

const MACHINE_OWNER_PRIVILEGES: readonly Privilege[] = [
  'registerMachine',
  'createGroup',
  'runFlow',
  'shareMachine',
  'shareGroup',
  'addMachineToGroup',
  'editMachine',
  'editGroup',
  'deleteMachine',
  'deleteGroup',
];

/**
 * Environment roles. Environment Maker has the machine owner's privileges by default, but may
 * register machines only while registration is not restricted (see `mayRegisterMachine`).
 */
export const ROLE_PRIVILEGES: Record<EnvironmentRole, readonly Privilege[]> = {
  EnvironmentAdmin: MACHINE_OWNER_PRIVILEGES,
  EnvironmentMaker: MACHINE_OWNER_PRIVILEGES,
  MachineOwner: MACHINE_OWNER_PRIVILEGES,
  MachineUser: ['runFlow'],
  MachineUserCanShare: ['runFlow', 'shareMachine', 'shareGroup'],
};

/** Which role privilege each group action needs. */
const GROUP_ACTION_PRIVILEGE: Record<GroupAction, Privilege> = {
  run: 'runFlow',
  share: 'shareGroup',
  addMachines: 'addMachineToGroup',
  removeMachines: 'addMachineToGroup',
  editDetails: 'editGroup',
  delete: 'deleteGroup',
};

export interface Actor {
  /** The caller's roles in the environment of the object at hand. */
  roles: ReadonlySet<EnvironmentRole>;
}

export const isAdmin = (actor: Actor) => actor.roles.has('EnvironmentAdmin');

export function hasPrivilege(actor: Actor, privilege: Privilege): boolean {
  for (const role of actor.roles) if (ROLE_PRIVILEGES[role].includes(privilege)) return true;
  return false;
}

export type Decision = 'allow' | 'forbidden' | 'hidden';

/** `access` is the caller's own access to the group (null: none). */
export function decideGroupAction(actor: Actor, access: AccessLevel | null, action: GroupAction): Decision {
  if (isAdmin(actor)) return 'allow';
  if (access === null) return 'hidden';
  if (!GROUP_ACCESS_ALLOWS[access].includes(action)) return 'forbidden';
  return hasPrivilege(actor, GROUP_ACTION_PRIVILEGE[action]) ? 'allow' : 'forbidden';
}

export function canSeeGroup(actor: Actor, access: AccessLevel | null): boolean {
  return isAdmin(actor) || access !== null;
}

/** What the caller may do with a group, for lists and for the app to hide what is not allowed. */
export function allowedGroupActions(actor: Actor, access: AccessLevel | null): GroupAction[] {
  return (Object.keys(GROUP_ACTION_PRIVILEGE) as GroupAction[]).filter(
    (action) => decideGroupAction(actor, access, action) === 'allow',
  );
}

export function mayCreateGroup(actor: Actor): boolean {
  return hasPrivilege(actor, 'createGroup');
}

export function mayRegisterMachine(actor: Actor, environment: { restrictMachineRegistration: boolean }): boolean {
  if (isAdmin(actor) || actor.roles.has('MachineOwner')) return true;
  if (environment.restrictMachineRegistration) return false;
  return actor.roles.has('EnvironmentMaker');
}

/**
 * Machines: their owner (with the role privilege) or an admin may edit or delete them; people
 * with access to the machine's group see them. `ownsMachine` is false for a stranger.
 */
export function decideMachineAction(
  actor: Actor,
  relation: { ownsMachine: boolean; groupAccess: AccessLevel | null },
  action: 'view' | 'edit' | 'delete',
): Decision {
  if (isAdmin(actor)) return 'allow';
  const sees = relation.ownsMachine || relation.groupAccess !== null;
  if (!sees) return 'hidden';
  if (action === 'view') return 'allow';
  if (!relation.ownsMachine) return 'forbidden';
  return hasPrivilege(actor, action === 'edit' ? 'editMachine' : 'deleteMachine') ? 'allow' : 'forbidden';
}

/** The access a caller has to a machine, as `GET /machines` reports it. */
export function machineAccess(relation: { ownsMachine: boolean; groupAccess: AccessLevel | null }): AccessLevel | null {
  if (relation.ownsMachine) return 'Owner';
  return relation.groupAccess;
}

// ── Environments, people and the audit trail ─────────────────────────────────────────────

/** Someone with no role in an environment cannot see it (404, not 403). */
export function canSeeEnvironment(actor: Actor): boolean {
  return actor.roles.size > 0;
}

/** Environment settings, role assignments and the audit trail: Environment Admins only. */
export function mayAdministerEnvironment(actor: Actor): boolean {
  return isAdmin(actor);
}

/** Creating user accounts is a server-wide act: an admin of any environment may do it. */
export function mayCreateUsers(actorsByEnvironment: Iterable<Actor>): boolean {
  for (const actor of actorsByEnvironment) if (isAdmin(actor)) return true;
  return false;
}

/**
 * A registration token can be seen and revoked by its creator and by the environment's
 * admins; anyone else does not see it.
 */
export function decideRegistrationTokenAction(actor: Actor, relation: { isCreator: boolean }): Decision {
  return isAdmin(actor) || relation.isCreator ? 'allow' : 'hidden';
}

// ── Machine-group membership ──────────────────────────────────────────────────────────────

/**
 * Taking a machine out of a group: the machine itself may always leave (with its own machine
 * token); anyone else needs `removeMachines` on the group. Joining, fetching the key bundle
 * and changing the group password need `addMachines` (the machine acts with its owner's access).
 */
export function decideGroupMachineRemoval(
  actor: Actor,
  access: AccessLevel | null,
  relation: { machineIsCaller: boolean },
): Decision {
  if (relation.machineIsCaller) return 'allow';
  return decideGroupAction(actor, access, 'removeMachines');
}

/** Which of the machine actions the caller may take, for lists and for the app to hide the rest. */
export function allowedMachineActions(
  actor: Actor,
  relation: { ownsMachine: boolean; groupAccess: AccessLevel | null },
): ('view' | 'edit' | 'delete')[] {
  return (['view', 'edit', 'delete'] as const).filter((action) => decideMachineAction(actor, relation, action) === 'allow');
}

// ── Connections, desktop flows and runs ───────────────────────────────────────────────────

/**
 * Running desktop flows on one machine by itself (a connection that targets the machine, not
 * its group): the machine's owner with the run privilege, or an admin. People who see the
 * machine through its group may not target it alone.
 */
export function decideMachineRun(actor: Actor, relation: { ownsMachine: boolean; groupAccess: AccessLevel | null }): Decision {
  if (isAdmin(actor)) return 'allow';
  if (!relation.ownsMachine) return relation.groupAccess !== null ? 'forbidden' : 'hidden';
  return hasPrivilege(actor, 'runFlow') ? 'allow' : 'forbidden';
}

/** Desktop flows belong to an environment: anyone with the run privilege there creates them. */
export function mayCreateDesktopFlow(actor: Actor): boolean {
  return hasPrivilege(actor, 'runFlow');
}

/** What can be done to a run: look at it (and its logs and queue events), or act on it (RUN_QUEUE_ACTIONS). */
export type RunAction = 'view' | RunQueueAction;

/**
 * Runs, by the caller's relation to the run (the model's queue rules): whoever queued it sees
 * it, cancels it and changes its priority; those who manage its target (group Owner/Co-owner,
 * the machine's owner) and admins may also move it to the top of the queue; everyone else who
 * sees the target (the group's queue in the app) only looks.
 */
const RUN_ACTIONS: Record<'manager' | 'creator' | 'viewer', readonly RunAction[]> = {
  manager: ['view', 'cancel', 'changePriority', 'moveToTop'],
  creator: ['view', 'cancel', 'changePriority'],
  viewer: ['view'],
};

export function decideRunAction(
  actor: Actor,
  relation: {
    isCreator: boolean;
    target: { type: 'MachineGroup'; access: AccessLevel | null } | { type: 'Machine'; ownsMachine: boolean; groupAccess: AccessLevel | null };
  },
  action: RunAction,
): Decision {
  if (isAdmin(actor)) return 'allow';
  const { target } = relation;
  const seesTarget = target.type === 'MachineGroup' ? canSeeGroup(actor, target.access) : target.ownsMachine || target.groupAccess !== null;
  if (!seesTarget && !relation.isCreator) return 'hidden';
  const managesTarget =
    target.type === 'MachineGroup' ? decideGroupAction(actor, target.access, 'editDetails') === 'allow' : target.ownsMachine;
  const role = managesTarget ? 'manager' : relation.isCreator ? 'creator' : 'viewer';
  return RUN_ACTIONS[role].includes(action) ? 'allow' : 'forbidden';
}

/** The actions on a run the caller may take (whatever its state: the run view adds when each makes sense). */
export function allowedRunActions(actor: Actor, relation: Parameters<typeof decideRunAction>[1]): RunQueueAction[] {
  return RUN_QUEUE_ACTIONS.filter((action) => decideRunAction(actor, relation, action) === 'allow');
}
