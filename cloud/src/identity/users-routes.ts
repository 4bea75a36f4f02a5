/** `GET /me`, `POST /users` (admins create accounts) and `GET /users?search=` (the share picker). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CloudContext } from '../context.ts';
import type { EnvironmentRole } from '../../../protocol/cloud-api.ts';
import { CreateUserRequest, Me, USER_SEARCH_LIMIT, UserList, UserSearchQuery, UserSummary } from '../../../protocol/cloud-api.ts';
import { requireUser } from '../auth/authenticate.ts';
import { hashPassword } from '../auth/passwords.ts';
import { recordAudit } from '../audit/audit.ts';
import { ApiError, forbidden } from '../http/problem.ts';
import { mayAdministerEnvironment, mayCreateUsers, type Actor } from '../policy/permissions.ts';
import { environmentForCaller, environmentView, isUniqueViolation, problems, sortRoles, type EnvironmentRow } from './shared.ts';

const emailTaken = (email: string) => new ApiError('EmailTaken', `A user with the email ${email} already exists.`);

/** `%`, `_` and `\` match literally in a LIKE pattern. */
const likePattern = (search: string) => `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export const userRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (fastify, { context }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = context;

  app.get(
    '/me',
    {
      schema: {
        tags: ['identity'],
        summary: 'The signed-in user and their roles in each environment (user tokens only)',
        response: { 200: Me, ...problems(401, 403) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const rows = await db.query<EnvironmentRow & { role: EnvironmentRole }>(
        `SELECT e.id, e.name, e.is_default, e.restrict_machine_registration, r.role
           FROM role_assignments r JOIN environments e ON e.id = r.environment_id
          WHERE r.user_id = $1 ORDER BY e.is_default DESC, e.name, e.id`,
        [caller.userId],
      );
      const environments = new Map<string, { row: EnvironmentRow; roles: EnvironmentRole[] }>();
      for (const row of rows) {
        const entry = environments.get(row.id) ?? { row, roles: [] };
        entry.roles.push(row.role);
        environments.set(row.id, entry);
      }
      return {
        id: caller.userId,
        email: caller.email,
        displayName: caller.displayName,
        environments: [...environments.values()].map(({ row, roles }) => environmentView(row, roles)),
      };
    },
  );

  app.post(
    '/users',
    {
      schema: {
        tags: ['identity'],
        summary: 'Create a user account (Environment Admins); optionally give it roles in one environment',
        body: CreateUserRequest,
        response: { 201: UserSummary, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const { email, displayName, password, roles = [], environmentId } = request.body;
      const assignments = await db.query<{ environment_id: string; role: EnvironmentRole }>(
        'SELECT environment_id, role FROM role_assignments WHERE user_id = $1',
        [caller.userId],
      );
      const actors = new Map<string, Actor & { roles: Set<EnvironmentRole> }>();
      for (const { environment_id, role } of assignments) {
        const actor = actors.get(environment_id) ?? { roles: new Set<EnvironmentRole>() };
        actor.roles.add(role);
        actors.set(environment_id, actor);
      }
      if (!mayCreateUsers(actors.values())) throw forbidden('Only an Environment Admin can create users.');

      let targetEnvironment: string | null = null;
      if (roles.length > 0 || environmentId) {
        if (environmentId) {
          targetEnvironment = environmentId;
        } else {
          const [defaultEnvironment] = await db.query<{ id: string }>('SELECT id FROM environments WHERE is_default');
          if (!defaultEnvironment) throw new ApiError('NotFound', 'There is no default environment; name one with environmentId.');
          targetEnvironment = defaultEnvironment.id;
        }
        const { actor } = await environmentForCaller(db, caller.userId, targetEnvironment);
        if (!mayAdministerEnvironment(actor)) throw forbidden('Only an Environment Admin of that environment can give roles there.');
      }

      const [existing] = await db.query('SELECT 1 FROM users WHERE lower(email) = lower($1)', [email]);
      if (existing) throw emailTaken(email);
      const passwordHash = await hashPassword(password);
      const user = await db
        .transaction(async (tx) => {
          const [row] = await tx.query<{ id: string; email: string; display_name: string }>(
            'INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3) RETURNING id, email, display_name',
            [email, displayName, passwordHash],
          );
          for (const role of roles) {
            await tx.query('INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, $3)', [
              targetEnvironment,
              row!.id,
              role,
            ]);
          }
          await recordAudit(tx, {
            actor: caller,
            action: 'user.created',
            targetType: 'user',
            targetId: row!.id,
            environmentId: targetEnvironment,
            detail: { email: row!.email, displayName: row!.display_name, roles: sortRoles(roles) },
          });
          return row!;
        })
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? emailTaken(email) : error;
        });
      return reply.status(201).send({ id: user.id, email: user.email, displayName: user.display_name });
    },
  );

  app.get(
    '/users',
    {
      schema: {
        tags: ['identity'],
        summary: `Find people by email or display name (case-insensitive, at most ${USER_SEARCH_LIMIT}), e.g. to share a group`,
        querystring: UserSearchQuery,
        response: { 200: UserList, ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      requireUser(request);
      const search = (request.query.search ?? '').trim();
      const rows = await db.query<{ id: string; email: string; display_name: string }>(
        `SELECT id, email, display_name FROM users
          WHERE $1 = '' OR email ILIKE $2 OR display_name ILIKE $2
          ORDER BY lower(display_name), lower(email), id LIMIT ${USER_SEARCH_LIMIT}`,
        [search, likePattern(search)],
      );
      return rows.map((row) => ({ id: row.id, email: row.email, displayName: row.display_name }));
    },
  );
};
