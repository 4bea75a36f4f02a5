/**
 * The run queue's actions (the model's Run queue tab: Change priority, Move to top) and the
 * queue events kept per run. Who may do what is decided in policy/permissions.ts
 * (decideRunAction); the dispatch order they change is the claim's ORDER BY in queue.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';
import type { Database, Queryable } from '../db/database.ts';
import { IdParams, Run, RunEvents, UpdateRunBody, type RunEvent } from '../../../protocol/cloud-api.ts';
import { requireUser } from '../auth/authenticate.ts';
import { ApiError } from '../http/problem.ts';
import { recordAudit } from '../audit/audit.ts';
import { RUN_COLUMNS, RunViewer, loadRun, runFor, runView, type RunRow } from './run-view.ts';

const problem = { $ref: 'Problem#' };

const PRIORITY_RANK = { High: 0, Normal: 1 } as const;

/**
 * Changes a queued run under its row lock: 409 RunNotQueued once a machine has it (or it
 * ended), so a run that is starting is never reordered behind the dispatcher's back.
 */
async function changeQueuedRun(
  db: Database,
  runId: string,
  change: (tx: Queryable, run: RunRow) => Promise<void>,
): Promise<void> {
  await db.transaction(async (tx) => {
    const [run] = await tx.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1 FOR UPDATE`, [runId]);
    if (!run) throw new ApiError('NotFound', 'The run was not found.');
    if (run.status !== 'Queued') {
      throw new ApiError('RunNotQueued', `The run is no longer queued (${run.status}); only queued runs can be reordered.`);
    }
    await change(tx, run);
  });
}

export const queueActionRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db, config } = context;

  app.patch(
    '/runs/:id',
    {
      schema: {
        tags: ['runs'],
        summary: "Change a queued run's priority (High runs go before Normal ones)",
        description:
          'Allowed to whoever queued the run and to those who manage its target. The run keeps its place among the runs of its new ' +
          'priority by the time it was queued; a run that was moved to the top goes back to its priority. 409 RunNotQueued once a machine has it.',
        params: IdParams,
        body: UpdateRunBody,
        response: { 200: Run, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const runId = (request.params as { id: string }).id;
      const { priority } = request.body as UpdateRunBody;
      await runFor(db, caller.userId, runId, 'changePriority');
      const now = config.now();
      await changeQueuedRun(db, runId, async (tx, run) => {
        if (run.priority === priority && !run.moved_to_top_at) return; // nothing changes: no event either
        await tx.query('UPDATE runs SET priority = $2, priority_rank = $3, moved_to_top_at = NULL WHERE id = $1', [
          runId,
          priority,
          PRIORITY_RANK[priority],
        ]);
        await tx.query(`INSERT INTO run_events (run_id, at, kind, actor_id, priority) VALUES ($1, $2, 'PriorityChanged', $3, $4)`, [
          runId,
          now,
          caller.userId,
          priority,
        ]);
        await recordAudit(tx, {
          actor: caller,
          action: 'run.priorityChanged',
          targetType: 'run',
          targetId: runId,
          environmentId: run.environment_id,
          detail: { from: run.priority, to: priority },
        });
      });
      return runView(context, (await loadRun(db, runId))!, new RunViewer(db, caller.userId));
    },
  );

  app.post(
    '/runs/:id/move-to-top',
    {
      schema: {
        tags: ['runs'],
        summary: 'Move a queued run to the top of its queue, ahead of every other queued run (High ones included)',
        description:
          'For co-owners and owners of the machine group (for a machine: its owner) and admins. Among several runs moved to the top, ' +
          'the latest moved goes first. 409 RunNotQueued once a machine has it.',
        params: IdParams,
        response: { 200: Run, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const runId = (request.params as { id: string }).id;
      await runFor(db, caller.userId, runId, 'moveToTop');
      const now = config.now();
      await changeQueuedRun(db, runId, async (tx, run) => {
        await tx.query('UPDATE runs SET priority_rank = -1, moved_to_top_at = $2 WHERE id = $1', [runId, now]);
        await tx.query(`INSERT INTO run_events (run_id, at, kind, actor_id) VALUES ($1, $2, 'MovedToTop', $3)`, [runId, now, caller.userId]);
        await recordAudit(tx, {
          actor: caller,
          action: 'run.movedToTop',
          targetType: 'run',
          targetId: runId,
          environmentId: run.environment_id,
        });
      });
      return runView(context, (await loadRun(db, runId))!, new RunViewer(db, caller.userId));
    },
  );

  app.get(
    '/runs/:id/events',
    {
      schema: {
        tags: ['runs'],
        summary: "A run's queue events, oldest first: queued, starting on a machine, refused, requeued, priority changed, moved to top, finished",
        params: IdParams,
        response: { 200: RunEvents, 400: problem, 401: problem, 403: problem, 404: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const runId = (request.params as { id: string }).id;
      await runFor(db, caller.userId, runId, 'view');
      const rows = await db.query<{
        at: Date;
        kind: RunEvent['kind'];
        machine_id: string | null;
        machine_name: string | null;
        attempt: number | null;
        actor_id: string | null;
        actor_name: string | null;
        priority: RunEvent['priority'] | null;
        status: RunEvent['status'] | null;
        code: string | null;
        message: string | null;
      }>(
        `SELECT e.at, e.kind, e.machine_id, m.name AS machine_name, e.attempt, e.actor_id, u.display_name AS actor_name,
                e.priority, e.status, e.code, e.message
           FROM run_events e
           LEFT JOIN machines m ON m.id = e.machine_id
           LEFT JOIN users u ON u.id = e.actor_id
          WHERE e.run_id = $1 ORDER BY e.id`,
        [runId],
      );
      const events = rows.map((row) => {
        const event: RunEvent = { at: row.at.toISOString(), kind: row.kind };
        if (row.machine_id) event.machine = { id: row.machine_id, name: row.machine_name };
        if (row.attempt !== null) event.attempt = row.attempt;
        if (row.actor_id) event.actor = { id: row.actor_id, displayName: row.actor_name };
        if (row.priority) event.priority = row.priority;
        if (row.status) event.status = row.status;
        if (row.code) event.code = row.code;
        if (row.message) event.message = row.message;
        return event;
      });
      return { runId, events };
    },
  );
};
