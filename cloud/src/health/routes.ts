import { Type } from 'typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';

/** Liveness and readiness: the database answers. */
export const healthRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Is the server up and its database reachable?',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.String() }) },
      },
    },
    async () => {
      await context.db.query('SELECT 1');
      return { status: 'ok' as const, database: context.db.engine };
    },
  );
};
