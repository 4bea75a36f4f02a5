/**
 * Who is calling: reads `Authorization: Bearer <access token>` once per request and exposes the
 * caller to routes. A machine token acts for the machine itself; for permission checks it
 * carries its owner's roles and access (a VM enrolled by IT staff acts as their machine).
 */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import type { Database, Queryable } from '../db/database.ts';
import type { EnvironmentRole } from '../../../protocol/cloud-api.ts';
import type { Actor } from '../policy/permissions.ts';
import { ApiError } from '../http/problem.ts';
import type { TokenService } from './tokens.ts';

export interface UserCaller {
  kind: 'user';
  userId: string;
  email: string;
  displayName: string;
}

export interface MachineCaller {
  kind: 'machine';
  machineId: string;
  /** The user the machine belongs to; its permissions are theirs. */
  userId: string;
  environmentId: string;
  groupId: string | null;
}

export type Caller = UserCaller | MachineCaller;

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller, or null for a request without a valid bearer token. */
    caller: Caller | null;
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1] ?? null;
}

/** Every request runs one of these: prepared once per connection (database.ts). */
const PREPARED = { prepare: true } as const;

export async function resolveCaller(db: Queryable, tokens: TokenService, token: string): Promise<Caller | null> {
  const subject = await tokens.verify(token);
  if (!subject) return null;
  if (subject.kind === 'user') {
    const [user] = await db.query<{ id: string; email: string; display_name: string }>(
      'SELECT id, email, display_name FROM users WHERE id = $1',
      [subject.userId],
      PREPARED,
    );
    return user ? { kind: 'user', userId: user.id, email: user.email, displayName: user.display_name } : null;
  }
  const [machine] = await db.query<{ id: string; owner_id: string; environment_id: string; group_id: string | null }>(
    'SELECT id, owner_id, environment_id, group_id FROM machines WHERE id = $1',
    [subject.machineId],
    PREPARED,
  );
  return machine
    ? {
        kind: 'machine',
        machineId: machine.id,
        userId: machine.owner_id,
        environmentId: machine.environment_id,
        groupId: machine.group_id,
      }
    : null;
}

export const authenticate = fp<{ db: Database; tokens: TokenService }>(
  async (app, { db, tokens }) => {
    app.decorateRequest('caller', null);
    app.addHook('onRequest', async (request) => {
      const token = bearerToken(request);
      request.caller = token ? await resolveCaller(db, tokens, token) : null;
    });
  },
  { name: 'authenticate' },
);

/** Any signed-in caller, user or machine; 401 otherwise. */
export function requireCaller(request: FastifyRequest): Caller {
  if (!request.caller) throw new ApiError('Unauthorized', 'Sign in first: this request needs a valid access token.');
  return request.caller;
}

/** A signed-in person; a machine token gets 403. */
export function requireUser(request: FastifyRequest): UserCaller {
  const caller = requireCaller(request);
  if (caller.kind !== 'user') throw new ApiError('Forbidden', 'A machine token cannot do this; sign in as a user.');
  return caller;
}

/** A machine proving itself with its own token; a user token gets 403. */
export function requireMachine(request: FastifyRequest): MachineCaller {
  const caller = requireCaller(request);
  if (caller.kind !== 'machine') throw new ApiError('Forbidden', 'Only the machine itself can do this (use its machine token).');
  return caller;
}

/** The caller's roles in one environment, as the policy module needs them. */
export async function loadActor(db: Queryable, userId: string, environmentId: string): Promise<Actor> {
  const rows = await db.query<{ role: EnvironmentRole }>(
    'SELECT role FROM role_assignments WHERE user_id = $1 AND environment_id = $2',
    [userId, environmentId],
  );
  return { roles: new Set(rows.map((row) => row.role)) };
}
