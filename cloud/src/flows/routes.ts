/** Desktop flows: a named script (`node` or `shell`) with JSON inputs and outputs, per environment. */
import { Type } from 'typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import { CreateDesktopFlowBody, DesktopFlow, ListDesktopFlowsQuery } from '../../../protocol/cloud-api.ts';
import { requireUser, loadActor } from '../auth/authenticate.ts';
import { ApiError } from '../http/problem.ts';
import { recordAudit } from '../audit/audit.ts';
import { canSeeEnvironment, mayCreateDesktopFlow } from '../policy/permissions.ts';

const problem = { $ref: 'Problem#' };

type FlowRow = {
  id: string;
  environment_id: string;
  name: string;
  runtime: 'node' | 'shell';
  script: string;
  owner_id: string;
  owner_name: string;
  created_at: Date;
};

const flowView = (row: FlowRow): DesktopFlow => ({
  id: row.id,
  environmentId: row.environment_id,
  name: row.name,
  runtime: row.runtime,
  script: row.script,
  owner: { id: row.owner_id, displayName: row.owner_name },
  createdAt: row.created_at.toISOString(),
});

/**
 * The environment a request is about: the one named, else the default environment when the
 * caller has a role there, else the caller's first environment. 404 when the caller has no
 * role in it.
 */
export async function resolveEnvironment(db: Queryable, userId: string, environmentId?: string): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    `SELECT e.id FROM environments e
      WHERE ($2::uuid IS NULL OR e.id = $2)
        AND EXISTS (SELECT 1 FROM role_assignments r WHERE r.environment_id = e.id AND r.user_id = $1)
      ORDER BY e.is_default DESC, e.created_at LIMIT 1`,
    [userId, environmentId ?? null],
  );
  if (!row) throw new ApiError('NotFound', environmentId ? 'The environment was not found.' : 'You have no role in any environment.');
  return row.id;
}

export const flowRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db } = context;
  const selectFlows = `SELECT f.id, f.environment_id, f.name, f.runtime, f.script, f.owner_id, u.display_name AS owner_name, f.created_at
                         FROM desktop_flows f JOIN users u ON u.id = f.owner_id`;

  app.post(
    '/desktop-flows',
    {
      schema: {
        tags: ['desktop flows'],
        summary: 'Create a desktop flow (a node or shell script; JSON inputs on stdin, JSON outputs on the last stdout line)',
        body: CreateDesktopFlowBody,
        response: { 201: DesktopFlow, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const body = request.body as CreateDesktopFlowBody;
      const environmentId = await resolveEnvironment(db, caller.userId, body.environmentId);
      const actor = await loadActor(db, caller.userId, environmentId);
      if (!mayCreateDesktopFlow(actor)) throw new ApiError('Forbidden', 'Your roles do not allow creating desktop flows here.');
      const name = body.name.trim();
      const id = await db.transaction(async (tx) => {
        const [taken] = await tx.query('SELECT 1 FROM desktop_flows WHERE environment_id = $1 AND lower(name) = lower($2)', [environmentId, name]);
        if (taken) throw new ApiError('NameTaken', `A desktop flow named "${name}" already exists.`);
        let inserted: { id: string } | undefined;
        try {
          [inserted] = await tx.query<{ id: string }>(
            'INSERT INTO desktop_flows (environment_id, owner_id, name, runtime, script) VALUES ($1, $2, $3, $4, $5) RETURNING id',
            [environmentId, caller.userId, name, body.runtime, body.script],
          );
        } catch (error) {
          if ((error as { code?: string }).code === '23505') throw new ApiError('NameTaken', `A desktop flow named "${name}" already exists.`);
          throw error;
        }
        await recordAudit(tx, {
          actor: caller,
          action: 'desktopFlow.created',
          targetType: 'desktopFlow',
          targetId: inserted!.id,
          environmentId,
          detail: { name, runtime: body.runtime },
        });
        return inserted!.id;
      });
      const [row] = await db.query<FlowRow>(`${selectFlows} WHERE f.id = $1`, [id]);
      return reply.status(201).send(flowView(row!));
    },
  );

  app.get(
    '/desktop-flows',
    {
      schema: {
        tags: ['desktop flows'],
        summary: 'The desktop flows of an environment (default: your default environment)',
        querystring: ListDesktopFlowsQuery,
        response: { 200: Type.Array(DesktopFlow), 401: problem, 403: problem, 404: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { environmentId: wanted } = request.query as { environmentId?: string };
      const environmentId = await resolveEnvironment(db, caller.userId, wanted);
      if (!canSeeEnvironment(await loadActor(db, caller.userId, environmentId))) throw new ApiError('NotFound', 'The environment was not found.');
      const rows = await db.query<FlowRow>(`${selectFlows} WHERE f.environment_id = $1 ORDER BY lower(f.name), f.id`, [environmentId]);
      return rows.map(flowView);
    },
  );
};
