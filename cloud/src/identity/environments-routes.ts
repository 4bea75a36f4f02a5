/** Environments and their role assignments (CONTRACT.md: `/environments`, role assignments). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CloudContext } from '../context.ts';
import {
  Environment,
  EnvironmentList,
  IdParams,
  PutRoleAssignmentRequest,
  RoleAssignment,
  RoleAssignmentList,
  RoleAssignmentParams,
  UpdateEnvironmentRequest,
  type EnvironmentRole,
} from '../../../protocol/cloud-api.ts';
import { loadActor, requireUser } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/audit.ts';
import { ApiError, forbidden, notFound } from '../http/problem.ts';
import { mayAdministerEnvironment } from '../policy/permissions.ts';
import { environmentForCaller, environmentView, problems, sortRoles, type EnvironmentRow } from './shared.ts';

const notAdmin = () => forbidden('Only an Environment Admin of this environment can do this.');

export const environmentRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (fastify, { context }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = context;

  app.get(
    '/environments',
    {
      schema: {
        tags: ['identity'],
        summary: 'The environments where the caller has a role',
        response: { 200: EnvironmentList, ...problems(401, 403) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const rows = await db.query<EnvironmentRow & { roles: EnvironmentRole[] }>(
        `SELECT e.id, e.name, e.is_default, e.restrict_machine_registration, array_agg(r.role) AS roles
           FROM environments e JOIN role_assignments r ON r.environment_id = e.id AND r.user_id = $1
          GROUP BY e.id ORDER BY e.is_default DESC, e.name, e.id`,
        [caller.userId],
      );
      return rows.map((row) => environmentView(row, row.roles));
    },
  );

  app.patch(
    '/environments/:id',
    {
      schema: {
        tags: ['identity'],
        summary: 'Change an environment: restrict machine registration, rename (Environment Admins)',
        params: IdParams,
        body: UpdateEnvironmentRequest,
        response: { 200: Environment, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      return db.transaction(async (tx) => {
        const { environment, actor } = await environmentForCaller(tx, caller.userId, request.params.id, { lock: true });
        if (!mayAdministerEnvironment(actor)) throw notAdmin();
        const { restrictMachineRegistration, name } = request.body;
        const [updated] = await tx.query<EnvironmentRow>(
          `UPDATE environments SET restrict_machine_registration = COALESCE($2, restrict_machine_registration),
                  name = COALESCE($3, name)
            WHERE id = $1 RETURNING id, name, is_default, restrict_machine_registration`,
          [environment.id, restrictMachineRegistration ?? null, name ?? null],
        );
        const changes: Record<string, unknown> = {};
        if (restrictMachineRegistration !== undefined && restrictMachineRegistration !== environment.restrict_machine_registration) {
          changes.restrictMachineRegistration = restrictMachineRegistration;
        }
        if (name !== undefined && name !== environment.name) changes.name = { from: environment.name, to: name };
        if (Object.keys(changes).length > 0) {
          await recordAudit(tx, {
            actor: caller,
            action: 'environment.updated',
            targetType: 'environment',
            targetId: environment.id,
            environmentId: environment.id,
            detail: changes,
          });
        }
        return environmentView(updated!, actor.roles);
      });
    },
  );

  app.get(
    '/environments/:id/role-assignments',
    {
      schema: {
        tags: ['identity'],
        summary: 'Who has which roles in the environment (Environment Admins)',
        params: IdParams,
        response: { 200: RoleAssignmentList, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { environment, actor } = await environmentForCaller(db, caller.userId, request.params.id);
      if (!mayAdministerEnvironment(actor)) throw notAdmin();
      const rows = await db.query<{ id: string; email: string; display_name: string; roles: EnvironmentRole[] }>(
        `SELECT u.id, u.email, u.display_name, array_agg(r.role) AS roles
           FROM role_assignments r JOIN users u ON u.id = r.user_id
          WHERE r.environment_id = $1
          GROUP BY u.id ORDER BY lower(u.display_name), lower(u.email), u.id`,
        [environment.id],
      );
      return rows.map((row) => ({
        user: { id: row.id, email: row.email, displayName: row.display_name },
        roles: sortRoles(row.roles),
      }));
    },
  );

  app.put(
    '/environments/:id/role-assignments/:userId',
    {
      schema: {
        tags: ['identity'],
        summary: "Replace a user's roles in the environment (Environment Admins); [] removes them",
        description: 'The last Environment Admin of an environment cannot lose that role: 409 LastAdmin.',
        params: RoleAssignmentParams,
        body: PutRoleAssignmentRequest,
        response: { 200: RoleAssignment, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const roles = sortRoles(request.body.roles);
      return db.transaction(async (tx) => {
        // The environment row lock serialises role changes, so two admins demoting each other
        // at once cannot leave the environment without one.
        const { environment, actor } = await environmentForCaller(tx, caller.userId, request.params.id, { lock: true });
        if (!mayAdministerEnvironment(actor)) throw notAdmin();
        const [user] = await tx.query<{ id: string; email: string; display_name: string }>(
          'SELECT id, email, display_name FROM users WHERE id = $1',
          [request.params.userId],
        );
        if (!user) throw notFound('The user');
        const before = sortRoles((await loadActor(tx, user.id, environment.id)).roles);
        await tx.query('DELETE FROM role_assignments WHERE environment_id = $1 AND user_id = $2', [environment.id, user.id]);
        for (const role of roles) {
          await tx.query('INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, $3)', [
            environment.id,
            user.id,
            role,
          ]);
        }
        const [admins] = await tx.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM role_assignments WHERE environment_id = $1 AND role = 'EnvironmentAdmin'`,
          [environment.id],
        );
        if (!admins || admins.n === 0) {
          throw new ApiError('LastAdmin', `${user.display_name} is the last Environment Admin of ${environment.name}; make someone else an admin first.`);
        }
        if (before.join() !== roles.join()) {
          await recordAudit(tx, {
            actor: caller,
            action: 'roles.replaced',
            targetType: 'user',
            targetId: user.id,
            environmentId: environment.id,
            detail: { before, after: roles },
          });
        }
        return { user: { id: user.id, email: user.email, displayName: user.display_name }, roles };
      });
    },
  );
};
