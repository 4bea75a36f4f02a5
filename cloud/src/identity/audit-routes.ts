/** `GET /audit-events`: the audit trail, newest first, for Environment Admins. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CloudContext } from '../context.ts';
import { AuditEventList, AuditQuery, type EnvironmentRole } from '../../../protocol/cloud-api.ts';
import { requireUser } from '../auth/authenticate.ts';
import { forbidden } from '../http/problem.ts';
import { mayAdministerEnvironment } from '../policy/permissions.ts';
import { environmentForCaller, problems } from './shared.ts';

const DEFAULT_LIMIT = 50;

type AuditRow = {
  id: string;
  at: Date;
  environment_id: string | null;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  detail: Record<string, unknown> | string;
};

export const auditRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (fastify, { context }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = context;

  app.get(
    '/audit-events',
    {
      schema: {
        tags: ['identity'],
        summary: 'The audit trail, newest first (Environment Admins: their environments and server-wide events)',
        description: 'Page with `before` = the `id` of the oldest event already received.',
        querystring: AuditQuery,
        response: { 200: AuditEventList, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { limit = DEFAULT_LIMIT, before, environmentId } = request.query;
      let environments: string[];
      if (environmentId) {
        const { actor } = await environmentForCaller(db, caller.userId, environmentId);
        if (!mayAdministerEnvironment(actor)) throw forbidden('Only an Environment Admin can read the audit trail.');
        environments = [environmentId];
      } else {
        const rows = await db.query<{ environment_id: string; roles: EnvironmentRole[] }>(
          'SELECT environment_id, array_agg(role) AS roles FROM role_assignments WHERE user_id = $1 GROUP BY environment_id',
          [caller.userId],
        );
        environments = rows
          .filter((row) => mayAdministerEnvironment({ roles: new Set(row.roles) }))
          .map((row) => row.environment_id);
        if (environments.length === 0) throw forbidden('Only an Environment Admin can read the audit trail.');
      }
      const rows = await db.query<AuditRow>(
        `SELECT id::text AS id, at, environment_id, actor_type, actor_id, action, target_type, target_id, detail
           FROM audit_events
          WHERE (environment_id = ANY($1::uuid[]) OR ($2 AND environment_id IS NULL))
            AND ($3::bigint IS NULL OR id < $3::bigint)
          ORDER BY id DESC LIMIT $4`,
        [environments, !environmentId, before ?? null, limit],
      );
      return rows.map((row) => ({
        id: Number(row.id),
        at: row.at.toISOString(),
        environmentId: row.environment_id,
        actor: { type: row.actor_type, id: row.actor_id },
        action: row.action,
        target: { type: row.target_type, id: row.target_id },
        detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, unknown>) : row.detail,
      }));
    },
  );
};
