/**
 * The run queue in SQL: every state change of a run is one statement (or one short
 * transaction) whose WHERE clause carries its preconditions — status, attempt (the fencing
 * token) and machine — so two instances, a late agent and the maintenance sweep can race
 * without a run being assigned twice or started twice:
 *   - claim:   Queued → Assigned, attempt + 1, one run per machine (unique partial index),
 *              `FOR UPDATE SKIP LOCKED` so concurrent claims take different runs;
 *   - accept:  sets accepted_at (only while still Assigned to that machine and attempt);
 *              an unaccepted run can be requeued, an accepted one never is;
 *   - start / log / finish: only with the current attempt from the assigned machine.
 * Times come from the injectable clock (`now` parameters), never from SQL now().
 */
import type { Queryable } from '../db/database.ts';
import type { RunLimits } from '../config.ts';
import type { FinishedStatus, LogLine } from '../../../protocol/agent-messages.ts';

export const ACTIVE = `('Assigned', 'Running')`;

/**
 * The order queued runs are handed out in (and numbered in, `queuePosition`): moved to top
 * (priority_rank -1, the latest move first), then High (0), then Normal (1), oldest first.
 */
export const dispatchOrder = (alias?: string): string => {
  const p = alias ? `${alias}.` : '';
  return `${p}priority_rank, ${p}moved_to_top_at DESC NULLS LAST, ${p}queued_at, ${p}id`;
};

/** The dispatcher's statements run for every run: prepared once per connection (database.ts). */
const PREPARED = { prepare: true } as const;

export interface QueueTarget {
  groupId: string | null;
  machineId: string | null;
}

export interface MachineCapabilities {
  acceptsUnattended: boolean;
  /** Who is signed in on the machine (null: nobody) and whether their session is locked. */
  session: { user: string | null; locked: boolean };
}

/**
 * Whether the machine's session suits run `r` of connection `c` (migration 007): an attended run
 * needs the connection's user signed in and unlocked; an unattended run needs a machine that
 * accepts them and has no session of that user. Parameters: $2 accepts unattended, $3 the
 * session's user, $6 the session is locked.
 */
const SESSION_SUITS_RUN = `((r.run_mode = 'Unattended' AND $2 AND ($3::text IS NULL OR account_name(c.username) <> account_name($3)))
                OR (r.run_mode = 'Attended' AND $3::text IS NOT NULL AND NOT $6 AND account_name(c.username) = account_name($3)))`;

export interface Assignment {
  runId: string;
  attempt: number;
  runMode: 'Attended' | 'Unattended';
  inputs: unknown;
  runtime: 'node' | 'shell';
  script: string;
  username: string;
  sealedPassword: string;
  targetType: 'MachineGroup' | 'Machine';
  targetId: string;
}

/** A claim: the run assigned to the machine, or none — and then whether its queues are empty. */
export interface ClaimOutcome {
  assignment: Assignment | null;
  /** No queued run at all in the machine's queues: no other machine needs to be offered them now. */
  queueEmpty: boolean;
}

const plus = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

/**
 * Claims the next run this machine may take — High before Normal, then oldest first, skipping
 * runs it cannot take (run mode, refused before, broken connection) so they never block the
 * ones behind — and assigns it, in one statement. No assignment when there is none or the
 * machine is busy or in maintenance.
 */
export async function claimForMachine(
  db: Queryable,
  machineId: string,
  capabilities: MachineCapabilities,
  now: Date,
  limits: RunLimits,
): Promise<ClaimOutcome> {
  try {
    const [row] = await db.query<{
      id: string | null;
      others_waiting: boolean;
      attempt: number;
      run_mode: 'Attended' | 'Unattended';
      inputs: unknown;
      runtime: 'node' | 'shell';
      script: string;
      username: string;
      sealed_password: string;
      target_type: 'MachineGroup' | 'Machine';
      target_id: string;
    }>(
      // Each queue (the group's, the machine's own) is walked in dispatch order on its partial
      // index, stopping at the first run this machine may take: a claim costs the same with 5 or
      // 5,000 runs waiting (one OR-joined scan of every queued run cost ~4 ms at 2,000).
      `WITH m AS (
         SELECT m.id, m.group_id FROM machines m
           LEFT JOIN machine_groups g ON g.id = m.group_id
          WHERE m.id = $1 AND NOT m.maintenance AND NOT COALESCE(g.maintenance, false)
            AND NOT EXISTS (SELECT 1 FROM runs a WHERE a.machine_id = m.id AND a.status IN ${ACTIVE})
       ), candidates AS (
         SELECT * FROM (
           SELECT r.id, r.priority_rank, r.moved_to_top_at, r.queued_at FROM runs r
             JOIN connections c ON c.id = r.connection_id AND c.status = 'Connected'
            WHERE r.status = 'Queued' AND r.group_id = (SELECT group_id FROM m)
              AND ${SESSION_SUITS_RUN}
              AND NOT ($1::uuid = ANY (r.rejected_by))
            ORDER BY ${dispatchOrder('r')}
            LIMIT 1
            FOR UPDATE OF r SKIP LOCKED
         ) AS of_group
         UNION ALL
         SELECT * FROM (
           SELECT r.id, r.priority_rank, r.moved_to_top_at, r.queued_at FROM runs r
             JOIN connections c ON c.id = r.connection_id AND c.status = 'Connected'
            WHERE r.status = 'Queued' AND r.target_machine_id = (SELECT id FROM m)
              AND ${SESSION_SUITS_RUN}
              AND NOT ($1::uuid = ANY (r.rejected_by))
            ORDER BY ${dispatchOrder('r')}
            LIMIT 1
            FOR UPDATE OF r SKIP LOCKED
         ) AS of_machine
       ), next AS (
         SELECT id FROM candidates ORDER BY ${dispatchOrder()} LIMIT 1
       ), claimed AS (
         UPDATE runs r
            SET status = 'Assigned', machine_id = $1, attempt = r.attempt + 1, assigned_at = $4,
                accept_deadline = $5, accepted_at = NULL, lease_expires_at = NULL
           FROM next, desktop_flows f, connections c
          WHERE r.id = next.id AND f.id = r.flow_id AND c.id = r.connection_id
        RETURNING r.id, r.attempt, r.run_mode, r.inputs, f.runtime, f.script, c.username, c.sealed_password,
                  c.target_type, c.target_id
       )
       -- Nothing for this machine: do its queues hold runs for others (the dispatcher then offers
       -- them to the other free machines) or nothing at all (it stops)? Same statement, no extra trip.
       SELECT claimed.*,
              claimed.id IS NULL AND EXISTS (
                SELECT 1 FROM runs q
                 WHERE q.status = 'Queued'
                   AND (q.group_id = (SELECT group_id FROM machines WHERE id = $1) OR q.target_machine_id = $1)
              ) AS others_waiting
         FROM (SELECT 1) AS one LEFT JOIN claimed ON true`,
      [
        machineId,
        capabilities.acceptsUnattended,
        capabilities.session.user,
        now,
        plus(now, limits.acceptSeconds),
        capabilities.session.locked,
      ],
      PREPARED,
    );
    if (!row?.id) return { assignment: null, queueEmpty: !row?.others_waiting };
    const assignment: Assignment = {
      runId: row.id,
      attempt: row.attempt,
      runMode: row.run_mode,
      inputs: row.inputs,
      runtime: row.runtime,
      script: row.script,
      username: row.username,
      sealedPassword: row.sealed_password,
      targetType: row.target_type,
      targetId: row.target_id,
    };
    return { assignment, queueEmpty: false };
  } catch (error) {
    // Another dispatcher gave this machine a run at the same moment: it is busy after all.
    if ((error as { code?: string }).code === '23505') return { assignment: null, queueEmpty: false };
    throw error;
  }
}

/** Why an assignment went back to the queue, for the run's queue events. */
export interface RequeueReason {
  /** The machine refused the run (it said so, with its code); else it did not accept in time. */
  refused: boolean;
  code: string;
  message?: string;
  /** Not offered to this machine again (e.g. it cannot open the credentials), unlike a busy machine. */
  forGood: boolean;
}

/** Puts an assigned, not yet accepted run back in the queue (its next assignment gets a new attempt). */
export async function requeueAssignment(
  db: Queryable,
  runId: string,
  attempt: number,
  machineId: string,
  now: Date,
  reason: RequeueReason,
): Promise<QueueTarget | null> {
  const [row] = await db.query<{ group_id: string | null; target_machine_id: string | null }>(
    `WITH back AS (
       UPDATE runs SET status = 'Queued', machine_id = NULL, assigned_at = NULL, accept_deadline = NULL,
              rejected_by = CASE WHEN $5 THEN array_append(rejected_by, $3::uuid) ELSE rejected_by END
        WHERE id = $1 AND attempt = $2 AND machine_id = $3 AND status = 'Assigned' AND accepted_at IS NULL
        RETURNING id, group_id, target_machine_id
     ), event AS (
       INSERT INTO run_events (run_id, at, kind, machine_id, attempt, code, message)
       SELECT id, $4, $6, $3, $2, $7, $8 FROM back
     )
     SELECT group_id, target_machine_id FROM back`,
    [runId, attempt, machineId, now, reason.forGood, reason.refused ? 'Refused' : 'Requeued', reason.code, reason.message ?? null],
    PREPARED,
  );
  return row ? { groupId: row.group_id, machineId: row.target_machine_id } : null;
}

/** Every unaccepted assignment of a machine whose socket went away goes back to the queue. */
export async function requeueMachineAssignments(db: Queryable, machineId: string, now: Date): Promise<QueueTarget[]> {
  const rows = await db.query<{ group_id: string | null; target_machine_id: string | null }>(
    `WITH back AS (
       UPDATE runs r SET status = 'Queued', machine_id = NULL, assigned_at = NULL, accept_deadline = NULL
         FROM (SELECT id, attempt FROM runs WHERE machine_id = $1 AND status = 'Assigned' AND accepted_at IS NULL) AS was
        WHERE r.id = was.id
        RETURNING r.id, was.attempt, r.group_id, r.target_machine_id
     ), event AS (
       INSERT INTO run_events (run_id, at, kind, machine_id, attempt, code, message)
       SELECT id, $2, 'Requeued', $1, attempt, 'MachineDisconnected', 'The machine went offline before it accepted the run.' FROM back
     )
     SELECT group_id, target_machine_id FROM back`,
    [machineId, now],
  );
  return rows.map((row) => ({ groupId: row.group_id, machineId: row.target_machine_id }));
}

export type ReportOutcome = 'ok' | 'stale' | 'cancelled';

/**
 * The agent accepts: from now on the run is never requeued. Idempotent for the same attempt
 * (a reconnecting agent may say it again). 'cancelled' when a cancel arrived first.
 */
export async function acceptRun(db: Queryable, runId: string, attempt: number, machineId: string, now: Date, limits: RunLimits): Promise<ReportOutcome> {
  const [row] = await db.query<{ cancel_requested_at: Date | null }>(
    `UPDATE runs SET accepted_at = COALESCE(accepted_at, $4), accept_deadline = NULL,
            lease_expires_at = GREATEST(COALESCE(lease_expires_at, $5), $5)
      WHERE id = $1 AND attempt = $2 AND machine_id = $3 AND status IN ${ACTIVE}
      RETURNING cancel_requested_at`,
    [runId, attempt, machineId, now, plus(now, limits.leaseSeconds)],
    PREPARED,
  );
  if (!row) return 'stale';
  return row.cancel_requested_at ? 'cancelled' : 'ok';
}

export async function startRun(db: Queryable, runId: string, attempt: number, machineId: string, now: Date, limits: RunLimits): Promise<ReportOutcome> {
  const [row] = await db.query<{ cancel_requested_at: Date | null }>(
    `UPDATE runs SET status = 'Running', started_at = COALESCE(started_at, $4),
            lease_expires_at = GREATEST(COALESCE(lease_expires_at, $5), $5)
      WHERE id = $1 AND attempt = $2 AND machine_id = $3 AND status IN ${ACTIVE} AND accepted_at IS NOT NULL
      RETURNING cancel_requested_at`,
    [runId, attempt, machineId, now, plus(now, limits.leaseSeconds)],
    PREPARED,
  );
  if (!row) return 'stale';
  return row.cancel_requested_at ? 'cancelled' : 'ok';
}

/** Appends log lines, keeping at most `maxLogLines` per run (then one line saying the rest was dropped). */
export async function appendLogs(
  db: Queryable,
  runId: string,
  attempt: number,
  machineId: string,
  lines: readonly LogLine[],
  now: Date,
  limits: RunLimits,
): Promise<ReportOutcome> {
  const [row] = await db.query<{ log_lines: number }>(
    `SELECT log_lines FROM runs WHERE id = $1 AND attempt = $2 AND machine_id = $3 AND status IN ${ACTIVE} FOR UPDATE`,
    [runId, attempt, machineId],
    PREPARED,
  );
  if (!row) return 'stale';
  const room = Math.max(0, limits.maxLogLines - row.log_lines);
  const kept = lines.slice(0, room).map((line) => ({ ...line, at: validDate(line.at, now) }));
  if (kept.length < lines.length && row.log_lines <= limits.maxLogLines) {
    kept.push({ at: now.toISOString(), stream: 'system', line: `[log truncated: only the first ${limits.maxLogLines} lines are kept]` });
  }
  if (kept.length === 0) return 'ok';
  await db.query(
    `INSERT INTO run_logs (run_id, seq, at, stream, line)
     SELECT $1, $2 + t.ord, t.at, t.stream, t.line
       FROM unnest($3::timestamptz[], $4::text[], $5::text[]) WITH ORDINALITY AS t(at, stream, line, ord)`,
    [runId, row.log_lines, kept.map((l) => l.at), kept.map((l) => l.stream), kept.map((l) => l.line)],
  );
  await db.query('UPDATE runs SET log_lines = log_lines + $2 WHERE id = $1', [runId, kept.length]);
  return 'ok';
}

function validDate(value: string, fallback: Date): string {
  const time = Date.parse(value);
  return Number.isFinite(time) ? new Date(time).toISOString() : fallback.toISOString();
}

/**
 * The agent's result. A run the cloud already ended (timed out, lost, cancelled) keeps its
 * status; the report is then only acknowledged. 'stale' when another attempt owns the run.
 */
export async function finishRun(
  db: Queryable,
  report: { runId: string; attempt: number; status: FinishedStatus; outputs: unknown; error: { code: string; message: string } | null },
  machineId: string,
  now: Date,
): Promise<'ok' | 'stale' | 'already'> {
  const outputs = report.status === 'Succeeded' ? JSON.stringify(report.outputs ?? null) : null;
  const [row] = await db.query(
    `UPDATE runs SET status = $4, finished_at = $5, outputs = $6::jsonb, error_code = $7, error_message = $8,
            lease_expires_at = NULL, accept_deadline = NULL
      WHERE id = $1 AND attempt = $2 AND machine_id = $3 AND status IN ${ACTIVE} AND accepted_at IS NOT NULL
      RETURNING id`,
    [report.runId, report.attempt, machineId, report.status, now, outputs, report.error?.code ?? null, report.error?.message ?? null],
    PREPARED,
  );
  if (row) return 'ok';
  const [same] = await db.query('SELECT 1 FROM runs WHERE id = $1 AND attempt = $2 AND machine_id = $3', [report.runId, report.attempt, machineId]);
  return same ? 'already' : 'stale';
}

/** Leases: the agent's heartbeat lists the runs it is running; their leases are extended. */
export async function extendLeases(db: Queryable, machineId: string, runIds: readonly string[], now: Date, limits: RunLimits): Promise<void> {
  if (runIds.length === 0) return;
  await db.query(
    `UPDATE runs SET lease_expires_at = $3
      WHERE machine_id = $1 AND id = ANY ($2::uuid[]) AND status IN ${ACTIVE} AND accepted_at IS NOT NULL`,
    [machineId, runIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id)), plus(now, limits.leaseSeconds)],
    PREPARED,
  );
}

/** Does this machine hold a run (assigned or running)? */
export async function activeRunOf(db: Queryable, machineId: string): Promise<string | null> {
  const [row] = await db.query<{ id: string }>(`SELECT id FROM runs WHERE machine_id = $1 AND status IN ${ACTIVE}`, [machineId], PREPARED);
  return row?.id ?? null;
}

/** Live counts for the group list: running (assigned or running) and queued runs per group. */
export async function runCountsByGroup(
  db: Queryable,
  groupIds: readonly string[],
): Promise<Map<string, { running: number; queued: number }>> {
  const counts = new Map(groupIds.map((id) => [id, { running: 0, queued: 0 }]));
  if (groupIds.length === 0) return counts;
  // Running runs are counted by the group of the machine running them, queued ones by the queue.
  const rows = await db.query<{ group_id: string; running: number; queued: number }>(
    `SELECT group_id, sum(running)::int AS running, sum(queued)::int AS queued FROM (
        SELECT r.group_id, 0 AS running, count(*) AS queued FROM runs r
         WHERE r.status = 'Queued' AND r.group_id = ANY ($1::uuid[]) GROUP BY r.group_id
        UNION ALL
        SELECT COALESCE(r.group_id, m.group_id) AS group_id, count(*) AS running, 0 AS queued
          FROM runs r LEFT JOIN machines m ON m.id = r.machine_id
         WHERE r.status IN ${ACTIVE} AND COALESCE(r.group_id, m.group_id) = ANY ($1::uuid[])
         GROUP BY COALESCE(r.group_id, m.group_id)
      ) t GROUP BY group_id`,
    [groupIds],
  );
  for (const row of rows) counts.set(row.group_id, { running: row.running, queued: row.queued });
  return counts;
}

/** Machines that are running (or were just assigned) a flow: `Busy` in the machine list. */
export async function busyMachineIds(db: Queryable, machineIds: readonly string[]): Promise<Set<string>> {
  if (machineIds.length === 0) return new Set();
  const rows = await db.query<{ machine_id: string }>(
    `SELECT machine_id FROM runs WHERE status IN ${ACTIVE} AND machine_id = ANY ($1::uuid[])`,
    [machineIds],
  );
  return new Set(rows.map((row) => row.machine_id));
}
