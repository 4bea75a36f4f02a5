/**
 * The identity area: setup, sign-in, the signed-in user, users, environments and roles,
 * registration tokens and the audit trail. Each part is its own plugin (the token endpoints
 * add a form-body parser in their own scope only).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';
import { setupRoutes } from './setup-routes.ts';
import { tokenRoutes } from './token-routes.ts';
import { userRoutes } from './users-routes.ts';
import { environmentRoutes } from './environments-routes.ts';
import { registrationTokenRoutes } from './registration-token-routes.ts';
import { auditRoutes } from './audit-routes.ts';

export const identityRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  for (const part of [setupRoutes, tokenRoutes, userRoutes, environmentRoutes, registrationTokenRoutes, auditRoutes]) {
    await app.register(part, { context });
  }
};
