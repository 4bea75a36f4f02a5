/**
 * The maintenance sweep (every `runs.sweepSeconds`, on every instance; each step is one
 * idempotent statement, so instances may sweep at the same time):
 *   - assignments not accepted by their deadline go back to the queue;
 *   - accepted runs whose lease lapsed (no heartbeat from their agent) fail with MachineLost
 *     — never requeued: they may have started;
 *   - runs past the run time limit end TimedOut (their agent is told to stop them);
 *   - queued runs past the queue time limit fail with QueueTimeout;
 *   - queued runs whose connection broke or whose target was deleted fail.
 * Requeued runs and runs ended on a machine are announced to the other instances (wakeups.ts)
 * in the transaction that changes them: the instance holding the machine stops the flow and
 * lets the machine claim its next run at once.
 */
import type { Database, Queryable } from '../db/database.ts';
import type { RunLimits } from '../config.ts';
import { ACTIVE } from './queue.ts';
import type { StopReason, WakeEvent } from './wakeups.ts';

export interface SweepResult {
  requeued: { runId: string; machineId: string }[];
  /** Runs ended by the sweep while on a machine: that machine is free again (and told to stop). */
  ended: { runId: string; attempt: number; machineId: string; status: string; reason: StopReason }[];
  failedInQueue: number;
}

const minus = (now: Date, seconds: number) => new Date(now.getTime() - seconds * 1000);

type Announce = (tx: Queryable, events: readonly WakeEvent[]) => Promise<void>;
type EndedRow = { id: string; attempt: number; machine_id: string; status: string };

function endedOf(rows: EndedRow[]): SweepResult['ended'] {
  return rows.map((r) => ({
    runId: r.id,
    attempt: r.attempt,
    machineId: r.machine_id,
    status: r.status,
    reason: r.status === 'TimedOut' ? 'TimedOut' : r.status === 'Cancelled' ? 'Cancelled' : 'MachineLost',
  }));
}

/** Runs `sql` and announces what it changed, in one transaction. */
async function changeAndAnnounce<T extends Record<string, unknown>>(
  db: Database,
  sql: string,
  params: unknown[],
  announce: Announce,
  events: (rows: T[]) => WakeEvent[],
): Promise<T[]> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<T>(sql, params);
    await announce(tx, events(rows));
    return rows;
  });
}

const stopEvents = (rows: EndedRow[]): WakeEvent[] =>
  endedOf(rows).map((e) => ({ kind: 'stop', runId: e.runId, attempt: e.attempt, machineId: e.machineId, reason: e.reason, free: true }));

export async function sweepRuns(
  db: Database,
  now: Date,
  limits: RunLimits,
  /** Leases are judged only after this instance has been up for a lease period (agents reconnect after a restart). */
  leasesJudgedFrom: Date,
  announce: Announce,
): Promise<SweepResult> {
  const requeued = await changeAndAnnounce<{ id: string; machine_id: string; group_id: string | null; target_machine_id: string | null }>(
    db,
    `WITH stale AS (
       SELECT id, machine_id, attempt FROM runs WHERE status = 'Assigned' AND accepted_at IS NULL AND accept_deadline < $1 FOR UPDATE SKIP LOCKED
     ), back AS (
       UPDATE runs r SET status = 'Queued', machine_id = NULL, assigned_at = NULL, accept_deadline = NULL
         FROM stale WHERE r.id = stale.id RETURNING r.id, stale.machine_id, stale.attempt, r.group_id, r.target_machine_id
     ), event AS (
       INSERT INTO run_events (run_id, at, kind, machine_id, attempt, code, message)
       SELECT id, $1, 'Requeued', machine_id, attempt, 'NotAccepted', 'The machine did not accept the run in time.' FROM back
     )
     SELECT id, machine_id, group_id, target_machine_id FROM back`,
    [now],
    announce,
    (rows) => rows.map((r) => ({ kind: 'queued', groupId: r.group_id, machineId: r.target_machine_id })),
  );

  const ended: SweepResult['ended'] = [];
  const timedOut = await changeAndAnnounce<EndedRow>(
    db,
    `UPDATE runs SET status = 'TimedOut', finished_at = $1, error_code = 'RunTimeout',
            error_message = 'The run took longer than the ' || $3::text || '-second limit and was stopped.', lease_expires_at = NULL
      WHERE status IN ${ACTIVE} AND accepted_at IS NOT NULL AND COALESCE(started_at, accepted_at) < $2
      RETURNING id, attempt, machine_id, status`,
    [now, minus(now, limits.maxRunSeconds), String(limits.maxRunSeconds)],
    announce,
    stopEvents,
  );
  ended.push(...endedOf(timedOut));

  if (now >= leasesJudgedFrom) {
    const lost = await changeAndAnnounce<EndedRow>(
      db,
      `UPDATE runs SET status = CASE WHEN cancel_requested_at IS NULL THEN 'Failed' ELSE 'Cancelled' END,
              finished_at = $1,
              error_code = CASE WHEN cancel_requested_at IS NULL THEN 'MachineLost' ELSE 'Cancelled' END,
              error_message = CASE WHEN cancel_requested_at IS NULL
                THEN 'The machine stopped reporting while the run was in progress; it is not restarted (it may have done part of its work).'
                ELSE 'Cancelled; the machine stopped reporting before it confirmed the flow had stopped.' END,
              lease_expires_at = NULL
        WHERE status IN ${ACTIVE} AND accepted_at IS NOT NULL AND lease_expires_at < $1
        RETURNING id, attempt, machine_id, status`,
      [now],
      announce,
      stopEvents,
    );
    ended.push(...endedOf(lost));
  }

  const queueTimeout = await db.query(
    `UPDATE runs SET status = 'Failed', finished_at = $1, error_code = 'QueueTimeout',
            error_message = 'No machine took the run within ' || $3::text || ' seconds.'
      WHERE status = 'Queued' AND queued_at < $2 RETURNING id`,
    [now, minus(now, limits.maxQueueSeconds), String(limits.maxQueueSeconds)],
  );
  const broken = await db.query(
    `UPDATE runs r SET status = 'Failed', finished_at = $1, error_code = 'ConnectionBroken',
            error_message = 'The connection broke: ' || COALESCE(c.broken_reason, 'it can no longer be used.')
       FROM connections c
      WHERE r.status = 'Queued' AND c.id = r.connection_id AND c.status = 'Broken' RETURNING r.id`,
    [now],
  );
  const orphaned = await db.query(
    `UPDATE runs r SET status = 'Failed', finished_at = $1, error_code = 'TargetDeleted',
            error_message = 'The machine group or machine this run was queued on was deleted.'
      WHERE r.status = 'Queued'
        AND ((r.group_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM machine_groups g WHERE g.id = r.group_id))
          OR (r.target_machine_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM machines m WHERE m.id = r.target_machine_id)))
      RETURNING r.id`,
    [now],
  );
  return {
    requeued: requeued.map((r) => ({ runId: r.id, machineId: r.machine_id })),
    ended,
    failedInQueue: queueTimeout.length + broken.length + orphaned.length,
  };
}

/** The queues (groups / single machines) that have runs waiting. */
export async function queuesWithWork(db: Queryable): Promise<{ groupIds: string[]; machineIds: string[] }> {
  const rows = await db.query<{ group_id: string | null; target_machine_id: string | null }>(
    `SELECT DISTINCT group_id, target_machine_id FROM runs WHERE status = 'Queued'`,
  );
  return {
    groupIds: rows.flatMap((r) => (r.group_id ? [r.group_id] : [])),
    machineIds: rows.flatMap((r) => (r.target_machine_id ? [r.target_machine_id] : [])),
  };
}

/** Runs on these machines whose cancel was asked and not yet confirmed (the cancel is re-sent). */
export async function pendingCancels(db: Queryable, machineIds: readonly string[]): Promise<{ runId: string; attempt: number; machineId: string }[]> {
  if (machineIds.length === 0) return [];
  const rows = await db.query<{ id: string; attempt: number; machine_id: string }>(
    `SELECT id, attempt, machine_id FROM runs
      WHERE status IN ${ACTIVE} AND cancel_requested_at IS NOT NULL AND machine_id = ANY ($1::uuid[])`,
    [machineIds],
  );
  return rows.map((r) => ({ runId: r.id, attempt: r.attempt, machineId: r.machine_id }));
}
