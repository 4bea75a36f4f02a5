/**
 * The cloud application as a Fastify plugin: validation, OpenAPI, the one error handler,
 * authentication and every route area. Only server.ts listens; tests `inject` into it.
 */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance, FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { Database } from './db/database.ts';
import { defaultConfig, type CloudConfig } from './config.ts';
import { TokenService } from './auth/tokens.ts';
import { authenticate } from './auth/authenticate.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { ApiError, problemBody } from './http/problem.ts';
import { ProblemSchema } from '../../protocol/cloud-api.ts';
import type { CloudContext } from './context.ts';
import { registerRoutes } from './routes.ts';
import { AgentHub } from './agent/hub.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's context (database, config, services), for tests and the embedded host. */
    cloud: CloudContext;
  }
}

export interface AppOptions {
  db: Database;
  config?: Partial<CloudConfig>;
}

/** Server options that belong with the app (body limit, no stack traces, redacted logs). */
export function serverOptions(logger: FastifyServerOptions['logger']): FastifyServerOptions {
  return {
    logger,
    bodyLimit: 256 * 1024,
    // Behind a reverse proxy the client address comes from X-Forwarded-For; off by default.
    trustProxy: process.env.MACHINE_RUNTIME_TRUST_PROXY === '1',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  };
}

/** Log redaction: never passwords, tokens or keys (structured logs go to operators). */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-bridge-token"]',
];

/**
 * What of an unexpected error goes to the log: database errors carry the failed query's
 * parameters (a password hash, a token hash…), so only the name, code, message and stack.
 */
function loggableError(error: FastifyError): Record<string, unknown> {
  return { type: error.name, code: error.code, message: error.message, stack: error.stack };
}

function toApiError(error: FastifyError): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error.validation) {
    return new ApiError('ValidationFailed', `Invalid request ${error.validationContext ?? 'body'}: ${error.message}`, {
      errors: error.validation.map((issue) => ({
        path: String((issue as { instancePath?: string }).instancePath ?? ''),
        message: String(issue.message ?? 'invalid'),
      })),
    });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('PayloadTooLarge', 'The request body is too large.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UnsupportedMediaType', 'Send JSON with Content-Type: application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('ValidationFailed', 'The request body is empty; send a JSON document.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('ValidationFailed', 'The request body is not valid JSON.');
  }
  if (error instanceof SyntaxError || error.statusCode === 400) {
    return new ApiError('ValidationFailed', 'The request body is not valid JSON.');
  }
  if (error.statusCode === 404) return new ApiError('NotFound', 'Not found.');
  if (error.statusCode === 413) return new ApiError('PayloadTooLarge', 'The request body is too large.');
  if (error.statusCode === 415) return new ApiError('UnsupportedMediaType', 'Send JSON with Content-Type: application/json.');
  return null;
}

async function app(fastify: FastifyInstance, options: AppOptions) {
  const config = defaultConfig(options.config);
  const tokens = await TokenService.load(options.db, config.accessTokenSeconds, config.now);
  const context: CloudContext = {
    db: options.db,
    config,
    tokens,
    rateLimiter: new RateLimiter(options.db, config.now),
    agentHub: new AgentHub({ db: options.db, config }),
  };
  fastify.decorate('cloud', context);
  context.agentHub.startSweeper();
  fastify.addHook('onClose', async () => context.agentHub.close());

  fastify.setValidatorCompiler(TypeBoxValidatorCompiler);
  fastify.addSchema(ProblemSchema);

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error) ?? new ApiError('InternalError', 'Something went wrong on the server; it has been logged.');
    if (apiError.status >= 500) request.log.error({ err: loggableError(error) }, 'request failed');
    if (apiError.retryAfter !== undefined) reply.header('Retry-After', String(apiError.retryAfter));
    return reply.status(apiError.status).type('application/problem+json').send(problemBody(apiError));
  });
  fastify.setNotFoundHandler((request, reply) => {
    const apiError = new ApiError('NotFound', `No such route: ${request.method} ${request.url.split('?')[0]}`);
    return reply.status(404).type('application/problem+json').send(problemBody(apiError));
  });

  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Machine Runtime cloud API',
        version: '1',
        description: 'Machines, machine groups, sharing, connections, desktop flows and runs. Errors are application/problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          registrationToken: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'RegistrationToken <token>' },
        },
      },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await fastify.register(swaggerUi, { routePrefix: '/docs' });
  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger());

  await fastify.register(authenticate, { db: options.db, tokens });
  await registerRoutes(fastify, context);
}

export default fp(app, { name: 'machine-runtime-cloud', fastify: '5.x' });
