/**
 * `POST|GET /environments/{id}/registration-tokens`, `DELETE …/{tokenId}`: tokens IT staff
 * use to enrol VMs (`POST /machines` with `Authorization: RegistrationToken <token>`).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CloudContext } from '../context.ts';
import {
  CreateRegistrationTokenRequest,
  CreatedRegistrationToken,
  IdParams,
  RegistrationTokenList,
  RegistrationTokenParams,
} from '../../../protocol/cloud-api.ts';
import { requireUser } from '../auth/authenticate.ts';
import { hashOpaqueToken, newOpaqueToken } from '../auth/tokens.ts';
import { recordAudit } from '../audit/audit.ts';
import { forbidden, notFound } from '../http/problem.ts';
import { decideRegistrationTokenAction, mayRegisterMachine } from '../policy/permissions.ts';
import { environmentForCaller, problems } from './shared.ts';
import { REGISTRATION_TOKEN_PREFIX } from './registration-tokens.ts';

type TokenRow = {
  id: string;
  environment_id: string;
  creator_id: string;
  creator_name: string;
  created_at: Date;
  expires_at: Date;
  max_uses: number | null;
  uses_left: number;
  revoked_at: Date | null;
};

function status(row: TokenRow, now: Date) {
  if (row.revoked_at) return 'Revoked' as const;
  if (row.uses_left <= 0) return 'UsedUp' as const;
  if (row.expires_at.getTime() <= now.getTime()) return 'Expired' as const;
  return 'Active' as const;
}

export const registrationTokenRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (fastify, { context }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, config } = context;

  app.post(
    '/environments/:id/registration-tokens',
    {
      schema: {
        tags: ['identity'],
        summary: 'Create a registration token to enrol machines without signing in on each (shown once)',
        description:
          'Allowed to whoever may register machines in the environment. Defaults: expires in 1 hour, 1 use. ' +
          'Use it as `Authorization: RegistrationToken <token>` on `POST /machines`; machines registered with it belong to its creator.',
        params: IdParams,
        body: CreateRegistrationTokenRequest,
        response: { 201: CreatedRegistrationToken, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const { environment, actor } = await environmentForCaller(db, caller.userId, request.params.id);
      if (!mayRegisterMachine(actor, { restrictMachineRegistration: environment.restrict_machine_registration })) {
        throw forbidden(
          environment.restrict_machine_registration
            ? 'Machine registration is restricted in this environment to admins and machine owners.'
            : 'Your roles in this environment do not allow registering machines.',
        );
      }
      const now = config.now();
      const expiresAt = new Date(now.getTime() + (request.body.expiresInSeconds ?? config.registrationTokenDefaultSeconds) * 1000);
      const maxUses = request.body.maxUses ?? 1;
      const token = newOpaqueToken(REGISTRATION_TOKEN_PREFIX);
      const id = await db.transaction(async (tx) => {
        const [row] = await tx.query<{ id: string }>(
          `INSERT INTO registration_tokens (token_hash, environment_id, creator_id, expires_at, uses_left, max_uses, created_at)
           VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id`,
          [hashOpaqueToken(token), environment.id, caller.userId, expiresAt, maxUses, now],
        );
        await recordAudit(tx, {
          actor: caller,
          action: 'registrationToken.created',
          targetType: 'registrationToken',
          targetId: row!.id,
          environmentId: environment.id,
          detail: { expiresAt: expiresAt.toISOString(), maxUses },
        });
        return row!.id;
      });
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ id, environmentId: environment.id, token, expiresAt: expiresAt.toISOString(), maxUses });
    },
  );

  app.get(
    '/environments/:id/registration-tokens',
    {
      schema: {
        tags: ['identity'],
        summary: "Registration tokens of the environment (admins: all; others: their own), never the token values",
        params: IdParams,
        response: { 200: RegistrationTokenList, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { environment, actor } = await environmentForCaller(db, caller.userId, request.params.id);
      const rows = await db.query<TokenRow>(
        `SELECT t.id, t.environment_id, t.creator_id, u.display_name AS creator_name, t.created_at, t.expires_at,
                t.max_uses, t.uses_left, t.revoked_at
           FROM registration_tokens t JOIN users u ON u.id = t.creator_id
          WHERE t.environment_id = $1 AND ($2 OR t.creator_id = $3)
          ORDER BY t.created_at DESC, t.id LIMIT 500`,
        // Tokens of others are listed only to those the policy lets see them (admins).
        [environment.id, decideRegistrationTokenAction(actor, { isCreator: false }) === 'allow', caller.userId],
      );
      const now = config.now();
      return rows.map((row) => ({
          id: row.id,
          environmentId: row.environment_id,
          creator: { id: row.creator_id, displayName: row.creator_name },
          createdAt: row.created_at.toISOString(),
          expiresAt: row.expires_at.toISOString(),
          maxUses: row.max_uses,
          usesLeft: row.uses_left,
          revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
        status: status(row, now),
      }));
    },
  );

  app.delete(
    '/environments/:id/registration-tokens/:tokenId',
    {
      schema: {
        tags: ['identity'],
        summary: 'Revoke a registration token (its creator or an Environment Admin)',
        params: RegistrationTokenParams,
        response: { 204: { type: 'null', description: 'Revoked (also when it already was).' }, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      await db.transaction(async (tx) => {
        const { environment, actor } = await environmentForCaller(tx, caller.userId, request.params.id);
        const [token] = await tx.query<{ id: string; creator_id: string; revoked_at: Date | null }>(
          'SELECT id, creator_id, revoked_at FROM registration_tokens WHERE id = $1 AND environment_id = $2 FOR UPDATE',
          [request.params.tokenId, environment.id],
        );
        if (!token || decideRegistrationTokenAction(actor, { isCreator: token.creator_id === caller.userId }) !== 'allow') {
          throw notFound('The registration token');
        }
        if (token.revoked_at) return;
        await tx.query('UPDATE registration_tokens SET revoked_at = $2 WHERE id = $1', [token.id, config.now()]);
        await recordAudit(tx, {
          actor: caller,
          action: 'registrationToken.revoked',
          targetType: 'registrationToken',
          targetId: token.id,
          environmentId: environment.id,
        });
      });
      return reply.status(204).send(null);
    },
  );
};
