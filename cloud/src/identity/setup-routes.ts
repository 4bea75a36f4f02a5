/** `GET|POST /setup`: the first administrator and the default environment, exactly once. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import { SetupRequest, SetupResponse, SetupStatus } from '../../../protocol/cloud-api.ts';
import { hashPassword } from '../auth/passwords.ts';
import { recordAudit } from '../audit/audit.ts';
import { ApiError } from '../http/problem.ts';
import { issueRefreshToken } from './refresh-tokens.ts';
import { isUniqueViolation, problems } from './shared.ts';

export const DEFAULT_ENVIRONMENT_NAME = 'Default';
// Serialises concurrent setups (any constant shared by every instance of this product).
const SETUP_LOCK_KEY = 7_340_212;

const alreadySetUp = () => new ApiError('AlreadySetUp', 'This server already has an administrator; sign in instead.');

async function hasUsers(db: Queryable): Promise<boolean> {
  const [row] = await db.query<{ exists: boolean }>('SELECT EXISTS (SELECT 1 FROM users) AS exists');
  return row?.exists === true;
}

export const setupRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (fastify, { context }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, config, tokens } = context;

  app.get(
    '/setup',
    {
      schema: {
        tags: ['identity'],
        summary: 'Does this server still need its first administrator?',
        security: [],
        response: { 200: SetupStatus },
      },
    },
    async () => ({ needsSetup: !(await hasUsers(db)) }),
  );

  app.post(
    '/setup',
    {
      schema: {
        tags: ['identity'],
        summary: 'Create the first administrator (Environment Admin of a new default environment) and sign in',
        security: [],
        body: SetupRequest,
        response: { 201: SetupResponse, ...problems(400, 409) },
      },
    },
    async (request, reply) => {
      const { email, password, displayName } = request.body;
      // Cheap refusal first, so a set-up server does not spend a key derivation per request.
      if (await hasUsers(db)) throw alreadySetUp();
      const passwordHash = await hashPassword(password);
      const now = config.now();
      const created = await db
        .transaction(async (tx) => {
          // Two setups racing: the second waits here, then sees the first one's user.
          await tx.query('SELECT pg_advisory_xact_lock($1)', [SETUP_LOCK_KEY]);
          if (await hasUsers(tx)) throw alreadySetUp();
          const [user] = await tx.query<{ id: string; email: string; display_name: string }>(
            'INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3) RETURNING id, email, display_name',
            [email, displayName, passwordHash],
          );
          const [existing] = await tx.query<{ id: string; name: string }>(
            'SELECT id, name FROM environments WHERE is_default',
          );
          const environment =
            existing ??
            (
              await tx.query<{ id: string; name: string }>(
                'INSERT INTO environments (name, is_default) VALUES ($1, true) RETURNING id, name',
                [DEFAULT_ENVIRONMENT_NAME],
              )
            )[0]!;
          await tx.query(
            `INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, 'EnvironmentAdmin')`,
            [environment.id, user!.id],
          );
          const actor = { kind: 'user' as const, userId: user!.id, email: user!.email, displayName: user!.display_name };
          await recordAudit(tx, {
            actor,
            action: 'server.setUp',
            targetType: 'environment',
            targetId: environment.id,
            environmentId: environment.id,
            detail: { environmentName: environment.name, adminEmail: user!.email },
          });
          const refreshToken = await issueRefreshToken(tx, user!.id, now, config.refreshTokenSeconds);
          return { user: user!, environment, refreshToken };
        })
        .catch((error: unknown) => {
          // Belt and braces: a concurrent direct insert of the same email or default environment.
          throw isUniqueViolation(error) ? alreadySetUp() : error;
        });
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({
        user: { id: created.user.id, email: created.user.email, displayName: created.user.display_name },
        environment: { id: created.environment.id, name: created.environment.name },
        access_token: await tokens.issue({ kind: 'user', userId: created.user.id }),
        token_type: 'Bearer' as const,
        expires_in: tokens.expiresIn,
        refresh_token: created.refreshToken,
      });
    },
  );
};
