/**
 * Connections: the username and password runs use on the machines of a group (or of one
 * machine). The password is sealed to the target's X25519 key the moment it arrives and only
 * the sealed box is stored; no answer ever carries it (nor the ciphertext).
 */
import { Type } from 'typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';
import { Connection, CreateConnectionBody, CreatedConnection, ListConnectionsQuery } from '../../../protocol/cloud-api.ts';
import { requireUser, loadActor } from '../auth/authenticate.ts';
import { ApiError } from '../http/problem.ts';
import { recordAudit } from '../audit/audit.ts';
import { decideRunOnTarget, loadTarget } from '../runs/targets.ts';
import { sealToPublicKey } from './sealed-box.ts';

const problem = { $ref: 'Problem#' };

type ConnectionRow = {
  id: string;
  environment_id: string;
  name: string;
  target_type: 'MachineGroup' | 'Machine';
  target_id: string;
  username: string;
  status: 'Connected' | 'Broken';
  broken_reason: string | null;
  created_at: Date;
};

export function connectionView(row: ConnectionRow): Connection {
  return {
    id: row.id,
    environmentId: row.environment_id,
    name: row.name,
    target: { type: row.target_type, id: row.target_id },
    username: row.username,
    status: row.status,
    ...(row.status === 'Broken' ? { brokenReason: row.broken_reason ?? 'The connection is broken.' } : {}),
    createdAt: row.created_at.toISOString(),
  };
}

export const connectionRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db } = context;

  app.post(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        summary: 'Create a connection to a machine group or a machine (the password is sealed to its key at once)',
        body: CreateConnectionBody,
        response: { 201: CreatedConnection, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const body = request.body as CreateConnectionBody;
      const target = await loadTarget(db, body.target.type, body.target.id, caller.userId);
      const what = body.target.type === 'MachineGroup' ? 'The machine group' : 'The machine';
      if (!target) throw new ApiError('NotFound', `${what} was not found.`);
      const decision = decideRunOnTarget(await loadActor(db, caller.userId, target.environmentId), target);
      if (decision === 'hidden') throw new ApiError('NotFound', `${what} was not found.`);
      if (decision === 'forbidden') throw new ApiError('Forbidden', `You may not run desktop flows on ${target.name}.`);
      if (!target.encryptionPublicKey) {
        throw new ApiError(
          'GroupHasNoPassword',
          `The machine group "${target.name}" has no key yet: add a machine to the group first (it sets the group password).`,
        );
      }
      const sealed = await sealToPublicKey(body.password, target.encryptionPublicKey);
      const row = await db.transaction(async (tx) => {
        const [inserted] = await tx.query<{ id: string; status: 'Connected' }>(
          `INSERT INTO connections (environment_id, owner_id, name, target_type, target_id, username, sealed_password, sealed_to_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, status`,
          [target.environmentId, caller.userId, body.name.trim(), target.type, target.id, body.username, sealed, target.encryptionPublicKey],
        );
        await recordAudit(tx, {
          actor: caller,
          action: 'connection.created',
          targetType: 'connection',
          targetId: inserted!.id,
          environmentId: target.environmentId,
          detail: { name: body.name.trim(), target: { type: target.type, id: target.id }, username: body.username },
        });
        return inserted!;
      });
      return reply.status(201).send({ id: row.id, status: row.status });
    },
  );

  app.get(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        summary: "The caller's connections (never a password or its ciphertext)",
        querystring: ListConnectionsQuery,
        response: { 200: Type.Array(Connection), 401: problem, 403: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { environmentId } = request.query as { environmentId?: string };
      const rows = await db.query<ConnectionRow>(
        `SELECT id, environment_id, name, target_type, target_id, username, status, broken_reason, created_at
           FROM connections WHERE owner_id = $1 AND ($2::uuid IS NULL OR environment_id = $2)
          ORDER BY created_at, id`,
        [caller.userId, environmentId ?? null],
      );
      return rows.map(connectionView);
    },
  );
};
