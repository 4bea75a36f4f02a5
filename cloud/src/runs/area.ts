/** The runs area: connections, desktop flows, runs and their queue actions, and the dispatcher they wake. */
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';
import { connectionRoutes } from '../connections/routes.ts';
import { flowRoutes } from '../flows/routes.ts';
import { runRoutes } from './routes.ts';
import { queueActionRoutes } from './queue-action-routes.ts';
import { RunDispatcher } from './dispatcher.ts';

export const runAreaRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const dispatcher = new RunDispatcher(context);
  await dispatcher.start();
  app.addHook('onClose', async () => dispatcher.stop());
  await app.register(connectionRoutes, { context });
  await app.register(flowRoutes, { context });
  await app.register(runRoutes, { context });
  await app.register(queueActionRoutes, { context });
};
