/**
 * Test harness for the cloud (fastify/demo's `build(t)` habit): each test file gets its own app
 * on its own database — in-memory PGlite by default, or a fresh database on the PostgreSQL
 * server named by TEST_DATABASE_URL (scripts/test.mjs starts one) — and talks to it with
 * `app.inject`. Nothing is mocked.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import app, { serverOptions } from '../src/app.ts';
import { openPglite, openPostgres, type Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import type { CloudConfig } from '../src/config.ts';

export const DATABASE_ENGINE = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';

/** A new empty database: PGlite in memory, or `CREATE DATABASE` on the test PostgreSQL server. */
export async function freshDatabase(): Promise<{ db: Database; url?: string; drop(): Promise<void> }> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const db = await openPglite();
    return { db, drop: () => db.close() };
  }
  const name = `mr_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = openPostgres(url.toString());
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      const again = new pg.Client({ connectionString: serverUrl });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.end();
    },
  };
}

export interface TestCloud {
  app: FastifyInstance;
  db: Database;
  /** PostgreSQL only: the test database's URL (another instance can share it: `buildCloudOn`). */
  databaseUrl?: string;
  close(): Promise<void>;
}

export async function buildCloud(config: Partial<CloudConfig> = {}): Promise<TestCloud> {
  const database = await freshDatabase();
  await migrate(database.db);
  const server = Fastify(serverOptions(false));
  await server.register(app, { db: database.db, config });
  await server.ready();
  return {
    app: server,
    db: database.db,
    ...(database.url ? { databaseUrl: database.url } : {}),
    async close() {
      await server.close();
      await database.drop();
    },
  };
}

/**
 * Another cloud instance on an existing PostgreSQL database (its own pool, its own sockets),
 * as when several instances share one database. `close` leaves the database to its owner.
 */
export async function buildCloudOn(databaseUrl: string, config: Partial<CloudConfig> = {}): Promise<TestCloud> {
  const db = openPostgres(databaseUrl);
  const server = Fastify(serverOptions(false));
  await server.register(app, { db, config });
  await server.ready();
  return {
    app: server,
    db,
    databaseUrl,
    async close() {
      await server.close();
      await db.close();
    },
  };
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** `inject` with a bearer token and a JSON body; returns the response with `json()` typed loosely. */
export async function call(
  server: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  options: CallOptions = {},
): Promise<LightMyRequestResponse & { body: string }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return server.inject({
    method,
    url,
    headers,
    ...(options.body !== undefined ? { payload: options.body as object } : {}),
  });
}

/** Listens on a free loopback port (for real sockets: agents, HTTP clients); returns `http://127.0.0.1:PORT`. */
export async function listen(cloud: Pick<TestCloud, 'app'>): Promise<string> {
  await cloud.app.listen({ port: 0, host: '127.0.0.1' });
  const address = cloud.app.server.address();
  if (!address || typeof address === 'string') throw new Error('the test cloud has no TCP address');
  return `http://127.0.0.1:${address.port}`;
}
