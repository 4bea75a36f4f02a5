/**
 * Starts a cloud: opens the database, applies migrations, builds the app, listens.
 * Used by server.ts (the command) and by `npm start` to run the embedded cloud in-process.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { openDatabase, type Database } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import app, { LOG_REDACT_PATHS, serverOptions } from './app.ts';
import type { CloudConfig } from './config.ts';

export interface StartOptions {
  port: number;
  host: string;
  databaseUrl?: string;
  dataDir?: string;
  /** pino log level, or false for no logs. Logs go to stderr. */
  logLevel?: string | false;
  config?: Partial<CloudConfig>;
}

export interface RunningCloud {
  url: string;
  server: FastifyInstance;
  db: Database;
  close(): Promise<void>;
}

export async function startCloud(options: StartOptions): Promise<RunningCloud> {
  const db = await openDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
  try {
    await migrate(db);
    const logger =
      options.logLevel === false
        ? false
        : { level: options.logLevel ?? 'info', redact: LOG_REDACT_PATHS, stream: process.stderr };
    const server = Fastify(serverOptions(logger));
    await server.register(app, { db, config: options.config });
    await server.listen({ port: options.port, host: options.host });
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${hostForUrl}:${port}`,
      server,
      db,
      close: () =>
        (closing ??= (async () => {
          await server.close();
          await db.close();
        })()),
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}
