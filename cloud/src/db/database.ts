/**
 * One small interface over the two engines we support with the same SQL:
 * PGlite (PostgreSQL compiled to WASM, the embedded default, in a data folder) and
 * PostgreSQL through `pg` (production). Repositories only see `Queryable`/`Database`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { listenPglite, listenPostgres, type ListenHandlers, type Subscription } from './notify.ts';

export type Row = Record<string, unknown>;

export interface QueryOptions {
  /**
   * PostgreSQL: run as a named prepared statement, parsed and planned once per connection
   * instead of on every call (for hot statements of fixed text, e.g. the run dispatcher's; it
   * halves the database's CPU per dispatched run). Needs `params`; PGlite ignores it.
   */
  prepare?: boolean;
}

export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<T[]>;
}

export interface Database extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction (READ COMMITTED); rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one session, for session-scoped things such as advisory locks. */
  withSession<T>(fn: (session: Queryable & { exec(sql: string): Promise<void> }) => Promise<T>): Promise<T>;
  /** LISTEN on a channel (notify.ts): a dedicated, reconnecting connection on PostgreSQL. */
  listen(channel: string, handlers: ListenHandlers): Promise<Subscription>;
  close(): Promise<void>;
}

// int8 (counts, sums) as numbers: our counts are small. Timestamps stay Date objects.
pg.types.setTypeParser(20, (value: string) => Number(value));

const statementNames = new Map<string, string>();
/** A pg query config: named (prepared) when asked for and possible. */
function pgQuery(sql: string, params: readonly unknown[], options: QueryOptions | undefined): pg.QueryConfig {
  if (!options?.prepare || params.length === 0) return { text: sql, values: params as unknown[] };
  let name = statementNames.get(sql);
  if (!name) {
    name = `mr_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    statementNames.set(sql, name);
  }
  return { name, text: sql, values: params as unknown[] };
}

export function openPostgres(connectionString: string): Database {
  const pool = new pg.Pool({ connectionString, max: 10 });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db: Database = {
    engine: 'postgres',
    async query<T extends Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) {
      const result = await pool.query(pgQuery(sql, params, options));
      return result.rows as T[];
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          async query<R extends Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) {
            return (await client.query(pgQuery(sql, params, options))).rows as R[];
          },
        };
        const value = await fn(tx);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    async withSession(fn) {
      const client = await pool.connect();
      try {
        return await fn({
          async query<R extends Row>(sql: string, params: readonly unknown[] = []) {
            return (await client.query(sql, params as unknown[])).rows as R[];
          },
          async exec(sql: string) {
            await client.query(sql);
          },
        });
      } finally {
        client.release();
      }
    },
    listen: (channel, handlers) => listenPostgres(connectionString, channel, handlers),
    async close() {
      await pool.end();
    },
  };
  return db;
}

/** PGlite in `dataDir`, or in memory when `dataDir` is undefined (tests). */
export async function openPglite(dataDir?: string): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const lite = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  const wrap = (q: { query: PGlite['query'] }): Queryable => ({
    async query<T extends Row>(sql: string, params: readonly unknown[] = []) {
      const result = await q.query<T>(sql, params as unknown[]);
      return result.rows;
    },
  });
  // One PGlite is one session, so a session advisory lock is re-entrant within the process:
  // `withSession` callers are queued here instead.
  let sessionQueue: Promise<unknown> = Promise.resolve();
  return {
    engine: 'pglite',
    ...wrap(lite),
    // PGlite is a single session: it queues queries and holds the session for a whole
    // transaction, so transactions are serialised (row locks are then trivially held).
    transaction: (fn) => lite.transaction((tx) => fn(wrap(tx))),
    withSession(fn) {
      const run = sessionQueue.then(() => fn({ ...wrap(lite), exec: async (sql: string) => void (await lite.exec(sql)) }));
      sessionQueue = run.catch(() => undefined);
      return run;
    },
    listen: (channel, handlers) => listenPglite(lite, channel, handlers),
    async close() {
      await lite.close();
    },
  };
}

export async function openDatabase(options: { databaseUrl?: string; dataDir?: string }): Promise<Database> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl);
  return openPglite(options.dataDir);
}
