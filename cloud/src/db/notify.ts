/**
 * LISTEN/NOTIFY, for wake-ups between cloud instances that share one database.
 *
 * Sending is plain SQL, `SELECT pg_notify(channel, payload)` (see `notify`), run on the
 * transaction that makes the change: PostgreSQL (and PGlite) deliver it when that transaction
 * commits, and never when it rolls back.
 *
 * Receiving:
 *   - PostgreSQL: one dedicated connection per subscription (not from the pool: a pooled
 *     client cannot stay in LISTEN), with TCP keep-alive and a ping every `pingMs`; when it
 *     drops it reconnects with backoff and calls `reconnected`, because notifications sent
 *     while it was away are lost — the caller catches up (the dispatcher runs a sweep).
 *   - PGlite: its own listen (one process, one session; delivered on commit as well).
 * A NOTIFY is a hint that something may be ready, never the only path: the caller keeps a sweep.
 */
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import type { Queryable } from './database.ts';

export interface ListenHandlers {
  /** One notification's payload (at most 8000 bytes). */
  message(payload: string): void;
  /** The connection dropped and is back: notifications sent meanwhile were missed. */
  reconnected?(): void;
}

export interface Subscription {
  close(): Promise<void>;
}

export interface PostgresListenOptions {
  /** Backoff between reconnect attempts (doubled each time, capped). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A `SELECT 1` this often finds a connection that died silently. */
  pingMs?: number;
  /** application_name of the listening session (visible in pg_stat_activity). */
  applicationName?: string;
}

/** Sends a notification; delivered when `tx`'s transaction commits. */
export async function notify(tx: Queryable, channel: string, payload: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

const quoteIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Listens on `channel` over a dedicated connection; resolves once LISTEN is in place (or, when
 * the first attempt fails, once it has been scheduled again: the caller's sweep covers the gap).
 */
export async function listenPostgres(
  connectionString: string,
  channel: string,
  handlers: ListenHandlers,
  options: PostgresListenOptions = {},
): Promise<Subscription> {
  const minBackoff = options.minBackoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 5000;
  const pingMs = options.pingMs ?? 10_000;
  let closed = false;
  let client: pg.Client | undefined;
  let backoff = minBackoff;
  let retryTimer: NodeJS.Timeout | undefined;
  /** Set once a connection was lost or could not be made: the next one must say so. */
  let missedSome = false;

  const pinger = setInterval(() => {
    const current = client;
    if (!current) return;
    const timeout = setTimeout(() => dropped(current), pingMs);
    current.query('SELECT 1').then(
      () => clearTimeout(timeout),
      () => {
        clearTimeout(timeout);
        dropped(current);
      },
    );
  }, pingMs);
  pinger.unref();

  function dropped(which: pg.Client): void {
    if (client !== which) return; // already handled
    client = undefined;
    which.removeAllListeners('notification');
    which.on('error', () => undefined);
    void which.end().catch(() => undefined);
    schedule();
  }

  function schedule(): void {
    if (closed || retryTimer) return;
    missedSome = true;
    const delay = backoff;
    backoff = Math.min(maxBackoff, backoff * 2);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
    retryTimer.unref();
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const candidate = new pg.Client({
      connectionString,
      keepAlive: true,
      application_name: options.applicationName ?? 'machine-runtime-listen',
    });
    candidate.on('error', () => dropped(candidate));
    candidate.on('end', () => dropped(candidate));
    candidate.on('notification', (n) => {
      if (n.channel === channel) handlers.message(n.payload ?? '');
    });
    try {
      await candidate.connect();
      await candidate.query(`LISTEN ${quoteIdentifier(channel)}`);
    } catch {
      candidate.removeAllListeners();
      candidate.on('error', () => undefined);
      void candidate.end().catch(() => undefined);
      schedule();
      return;
    }
    if (closed) {
      void candidate.end().catch(() => undefined);
      return;
    }
    client = candidate;
    backoff = minBackoff;
    if (missedSome) {
      missedSome = false;
      handlers.reconnected?.();
    }
  }

  await connect();
  return {
    async close() {
      closed = true;
      clearInterval(pinger);
      clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners('end');
        current.removeAllListeners('notification');
        await current.end().catch(() => undefined);
      }
    },
  };
}

/** PGlite's own LISTEN: in-process, delivered when the notifying transaction commits. */
export async function listenPglite(lite: PGlite, channel: string, handlers: ListenHandlers): Promise<Subscription> {
  const unsubscribe = await lite.listen(channel, (payload) => handlers.message(payload));
  return {
    async close() {
      if (!lite.closed) await unsubscribe();
    },
  };
}
