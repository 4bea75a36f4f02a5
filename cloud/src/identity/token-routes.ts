/**
 * `POST /auth/token` (password, refresh token and machine assertion grants) and
 * `POST /auth/logout`. JSON, or application/x-www-form-urlencoded as OAuth clients send it.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CloudContext } from '../context.ts';
import { LogoutRequest, TokenRequest, TokenResponse, type TokenResponse as TokenResponseBody } from '../../../protocol/cloud-api.ts';
import { JWT_BEARER_GRANT } from '../../../protocol/machine-assertion.ts';
import { dummyPasswordHash, verifyPassword } from '../auth/passwords.ts';
import { ApiError } from '../http/problem.ts';
import { issueRefreshToken, pruneRefreshTokens, revokeFamilyOf, rotateRefreshToken } from './refresh-tokens.ts';
import { verifyMachineAssertion } from './machine-assertion.ts';
import { problems } from './shared.ts';

const SIGN_IN_WINDOW_SECONDS = 15 * 60;
/** Every this many token requests, old rate-limit windows and long-expired refresh tokens go. */
const PRUNE_EVERY = 200;
const FORM_BODY_LIMIT = 16 * 1024;

const badCredentials = () => new ApiError('Unauthorized', 'The email or password is incorrect.');

export const tokenRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (fastify, { context }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, config, tokens, rateLimiter } = context;

  // Only in this plugin's scope: the token endpoints accept OAuth's form encoding too.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  let requestsSincePrune = 0;
  function pruneNowAndThen(log: { warn(obj: object, msg: string): void }) {
    if (++requestsSincePrune < PRUNE_EVERY) return;
    requestsSincePrune = 0;
    Promise.all([rateLimiter.prune(), pruneRefreshTokens(db, config.now())]).catch((error: unknown) =>
      log.warn({ err: error }, 'pruning sign-in state failed'),
    );
  }

  async function userTokens(userId: string, refreshToken: string): Promise<TokenResponseBody> {
    return {
      access_token: await tokens.issue({ kind: 'user', userId }),
      token_type: 'Bearer',
      expires_in: tokens.expiresIn,
      refresh_token: refreshToken,
    };
  }

  app.post(
    '/auth/token',
    {
      schema: {
        tags: ['identity'],
        summary: 'Sign in: password, refresh token or machine assertion grant',
        description:
          'Password sign-ins are rate-limited per account and per client address (429 RateLimited with Retry-After). ' +
          'A refresh token rotates on every use; presenting an already used one revokes its whole family. ' +
          'The machine grant verifies an EdDSA assertion (protocol/machine-assertion.ts); a fingerprint that does not match ' +
          'the registered one answers 409 MachineCloned.',
        security: [],
        body: TokenRequest,
        response: { 200: TokenResponse, ...problems(400, 401, 409, 429) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const now = config.now();
      reply.header('cache-control', 'no-store');
      pruneNowAndThen(request.log);

      if (body.grant_type === 'password') {
        const email = body.email.trim().toLowerCase();
        await rateLimiter.hit([
          { bucket: `signin:account:${email}`, limit: config.rateLimits.signInPerAccount, windowSeconds: SIGN_IN_WINDOW_SECONDS },
          { bucket: `signin:address:${request.ip}`, limit: config.rateLimits.signInPerAddress, windowSeconds: SIGN_IN_WINDOW_SECONDS },
        ]);
        const [user] = await db.query<{ id: string; password_hash: string }>(
          'SELECT id, password_hash FROM users WHERE lower(email) = $1',
          [email],
        );
        // Same work whether or not the account exists, so timing does not tell which.
        const valid = await verifyPassword(body.password, user?.password_hash ?? (await dummyPasswordHash()));
        if (!user || !valid) throw badCredentials();
        const refreshToken = await issueRefreshToken(db, user.id, now, config.refreshTokenSeconds);
        return userTokens(user.id, refreshToken);
      }

      if (body.grant_type === 'refresh_token') {
        const result = await rotateRefreshToken(db, body.refresh_token, now, config.refreshTokenSeconds);
        if (!result.ok) {
          throw new ApiError(
            'Unauthorized',
            result.reason === 'replayed'
              ? 'This refresh token was already used; every session started with it has been signed out. Sign in again.'
              : 'The refresh token is not valid any more. Sign in again.',
          );
        }
        return userTokens(result.userId, result.refreshToken);
      }

      if (body.grant_type === JWT_BEARER_GRANT) {
        const machineId = await verifyMachineAssertion(db, body.assertion, now);
        return {
          access_token: await tokens.issue({ kind: 'machine', machineId }),
          token_type: 'Bearer' as const,
          expires_in: tokens.expiresIn,
        };
      }
      throw new ApiError('ValidationFailed', 'Unsupported grant_type.');
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['identity'],
        summary: 'Sign out: revokes the refresh token and every token rotated from the same sign-in',
        security: [],
        body: LogoutRequest,
        response: { 204: { type: 'null', description: 'Signed out (also when the token was unknown).' }, ...problems(400) },
      },
    },
    async (request, reply) => {
      await revokeFamilyOf(db, request.body.refresh_token, config.now());
      return reply.status(204).send(null);
    },
  );
};
