/** Small helpers shared by the identity routes. */
import type { Queryable } from '../db/database.ts';
import type { EnvironmentRole } from '../../../protocol/cloud-api.ts';
import { loadActor } from '../auth/authenticate.ts';
import { canSeeEnvironment, mayCreateGroup, mayRegisterMachine, type Actor } from '../policy/permissions.ts';
import { notFound } from '../http/problem.ts';

/** Problem responses for the OpenAPI document (the body is always application/problem+json). */
export function problems(...statuses: number[]): Record<number, { $ref: string }> {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: 'Problem#' }]));
}

export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

export type EnvironmentRow = {
  id: string;
  name: string;
  is_default: boolean;
  restrict_machine_registration: boolean;
};

export function environmentView(row: EnvironmentRow, roles: Iterable<EnvironmentRole>) {
  const actor = { roles: new Set(roles) };
  return {
    id: row.id,
    name: row.name,
    isDefault: row.is_default,
    restrictMachineRegistration: row.restrict_machine_registration,
    roles: sortRoles(actor.roles),
    mayRegisterMachines: mayRegisterMachine(actor, { restrictMachineRegistration: row.restrict_machine_registration }),
    mayCreateGroups: mayCreateGroup(actor),
  };
}

const ROLE_ORDER: readonly EnvironmentRole[] = [
  'EnvironmentAdmin',
  'EnvironmentMaker',
  'MachineOwner',
  'MachineUserCanShare',
  'MachineUser',
];
export function sortRoles(roles: Iterable<EnvironmentRole>): EnvironmentRole[] {
  return [...new Set(roles)].sort((a, b) => ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b));
}

/**
 * The environment and the caller's roles in it; 404 when it does not exist or the caller has
 * no role there (an environment you are not part of is invisible). `lock` takes a row lock
 * that serialises concurrent changes to the environment's roles.
 */
export async function environmentForCaller(
  db: Queryable,
  userId: string,
  environmentId: string,
  options: { lock?: boolean } = {},
): Promise<{ environment: EnvironmentRow; actor: Actor }> {
  const [environment] = await db.query<EnvironmentRow>(
    `SELECT id, name, is_default, restrict_machine_registration FROM environments WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
    [environmentId],
  );
  const actor = environment ? await loadActor(db, userId, environmentId) : null;
  if (!environment || !actor || !canSeeEnvironment(actor)) throw notFound('The environment');
  return { environment, actor };
}
