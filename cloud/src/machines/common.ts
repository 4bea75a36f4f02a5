/** Helpers shared by the machine and machine-group areas. */
import type { Queryable } from '../db/database.ts';
import type { AccessLevel, EnvironmentRole } from '../../../protocol/cloud-api.ts';
import { loadActor } from '../auth/authenticate.ts';
import { canSeeEnvironment, type Actor } from '../policy/permissions.ts';
import { ApiError } from '../http/problem.ts';

/** Problem responses for the OpenAPI document (the body is always application/problem+json). */
export function problems(...statuses: number[]): Record<number, { $ref: string }> {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: 'Problem#' }]));
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

export function toIso(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return new Date(value).toISOString();
}

export function toIsoRequired(value: Date | string): string {
  return new Date(value).toISOString();
}

export type EnvironmentRow = {
  id: string;
  restrict_machine_registration: boolean;
}

/**
 * The environment a request is about: the one named, or the default one. 404 when it does not
 * exist or the caller has no role there (an environment you are not part of is invisible).
 */
export async function resolveEnvironment(
  db: Queryable,
  userId: string,
  environmentId: string | undefined,
): Promise<{ environment: EnvironmentRow; actor: Actor }> {
  const [environment] = environmentId
    ? await db.query<EnvironmentRow>('SELECT id, restrict_machine_registration FROM environments WHERE id = $1', [environmentId])
    : await db.query<EnvironmentRow>('SELECT id, restrict_machine_registration FROM environments WHERE is_default');
  if (!environment) {
    throw new ApiError('NotFound', environmentId ? 'The environment was not found.' : 'There is no default environment; name one with environmentId.');
  }
  const actor = await loadActor(db, userId, environment.id);
  if (!canSeeEnvironment(actor)) throw new ApiError('NotFound', 'The environment was not found.');
  return { environment, actor };
}

/** The caller's roles in every environment where they have one (for lists spanning environments). */
export async function actorsByEnvironment(db: Queryable, userId: string): Promise<Map<string, Actor>> {
  const rows = await db.query<{ environment_id: string; role: EnvironmentRole }>(
    'SELECT environment_id, role FROM role_assignments WHERE user_id = $1',
    [userId],
  );
  const actors = new Map<string, Actor>();
  for (const row of rows) {
    const actor = actors.get(row.environment_id) ?? { roles: new Set<EnvironmentRole>() };
    (actor.roles as Set<EnvironmentRole>).add(row.role);
    actors.set(row.environment_id, actor);
  }
  return actors;
}

export const NO_ROLES: Actor = { roles: new Set() };

/**
 * SQL for the caller's own access to a group (`$user` is the caller's id): 'Owner' for its
 * owner, else the shared level, else NULL. `g` is machine_groups, `ga` the caller's group_access row.
 */
export const GROUP_ACCESS_SQL = `CASE WHEN g.owner_id = $1 THEN 'Owner' ELSE ga.level END`;

export type AccessOrNone = AccessLevel | null;
