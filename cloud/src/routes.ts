/** Every route area under `/api/v1`, in one list. */
import type { FastifyInstance } from 'fastify';
import type { CloudContext } from './context.ts';
import { healthRoutes } from './health/routes.ts';
import { agentRoutes } from './agent/hub.ts';
import { identityRoutes } from './identity/routes.ts';
import { machineRoutes } from './machines/routes.ts';
import { groupRoutes } from './groups/routes.ts';
import { runAreaRoutes } from './runs/area.ts';

export async function registerRoutes(app: FastifyInstance, context: CloudContext): Promise<void> {
  const areas = [healthRoutes, identityRoutes, agentRoutes, machineRoutes, groupRoutes, runAreaRoutes];
  for (const area of areas) await app.register(area, { prefix: '/api/v1', context });
}
