/**
 * Runs: queue a desktop flow on a connection's target, follow it, cancel it, read its log.
 * Queueing answers 202 at once; the dispatcher pushes the run to a free machine right after.
 */
import { Type } from 'typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import type { Run as RunView } from '../../../protocol/cloud-api.ts';
import {
  CreateRunBody,
  IdParams,
  ListRunsQuery,
  QueuedRun,
  Run,
  RunLogs,
  RunLogsQuery,
} from '../../../protocol/cloud-api.ts';
import { loadActor, requireUser } from '../auth/authenticate.ts';
import { ApiError } from '../http/problem.ts';
import { auditColumns, recordAudit } from '../audit/audit.ts';
import { canSeeGroup, decideMachineAction } from '../policy/permissions.ts';
import { decideRunOnTarget, groupAccessOf, loadRunRequest } from './targets.ts';
import { RUN_COLUMNS, RunViewer, loadRun, runFor, runView, type RunRow } from './run-view.ts';
import { dispatcherOf } from './dispatcher.ts';
import { WAKE_CHANNEL, wakePayload } from './wakeups.ts';

/** Statements run for every queued run: prepared once per connection (database.ts). */
const PREPARED = { prepare: true } as const;

const problem = { $ref: 'Problem#' };
/** Inputs travel on the agent socket: keep them small. */
const MAX_INPUTS_BYTES = 64 * 1024;

export const runRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db, config } = context;

  app.post(
    '/runs',
    {
      schema: {
        tags: ['runs'],
        summary: "Queue a desktop flow run on the connection's machine group (or machine)",
        description:
          'Answers 202 at once; a free machine of the target gets the run pushed within milliseconds. ' +
          'Order: High before Normal, then oldest first; a run no machine can take now does not block the runs behind it. ' +
          '409 QueueFull when the target already has the maximum number of queued runs (500 by default); 409 ConnectionBroken for a broken connection.',
        body: CreateRunBody,
        response: { 202: QueuedRun, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const body = request.body as CreateRunBody;
      const inputs = JSON.stringify(body.inputs ?? {});
      if (Buffer.byteLength(inputs) > MAX_INPUTS_BYTES) {
        throw new ApiError('ValidationFailed', `Run inputs are limited to ${MAX_INPUTS_BYTES / 1024} KiB of JSON.`);
      }
      // Connection, flow, target, access and roles: one statement (targets.ts).
      const found = await loadRunRequest(db, caller.userId, body.connectionId, body.desktopFlowId);
      if (!found) throw new ApiError('NotFound', 'The connection was not found (connections are personal: use one of yours).');
      const { connection, flow, target, actor } = found;
      if (!flow) throw new ApiError('NotFound', "The desktop flow was not found in the connection's environment.");
      if (connection.status === 'Broken') {
        throw new ApiError('ConnectionBroken', `The connection is broken: ${connection.brokenReason ?? 'create it again.'}`);
      }
      if (!target) throw new ApiError('ConnectionBroken', 'The connection is broken: its target was deleted.');
      const decision = decideRunOnTarget(actor, target);
      if (decision === 'hidden') throw new ApiError('NotFound', 'The target of this connection was not found.');
      if (decision === 'forbidden') throw new ApiError('Forbidden', `You may not run desktop flows on ${target.name}.`);

      const priority = body.priority ?? 'Normal';
      const groupId = target.type === 'MachineGroup' ? target.id : null;
      const machineId = target.type === 'Machine' ? target.id : null;
      // One statement, its own transaction (migration 006, queue_run): it locks the target's row,
      // counts its queued runs in a new snapshot (the limit stays exact under concurrency), and
      // below the limit inserts the run, its audit record and the NOTIFY that wakes the instance
      // holding the target's machines (maybe another one), delivered at commit.
      const audit = auditColumns({
        actor: caller,
        action: 'run.queued',
        detail: { flow: flow.name, target: { type: target.type, id: target.id }, runMode: body.runMode, priority },
      });
      const [queued] = await db.query<{ outcome: 'Queued' | 'QueueFull' | 'TargetDeleted'; run_id: string | null }>(
        `SELECT outcome, run_id FROM queue_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16::jsonb, $17, $18)`,
        [
          groupId,
          machineId,
          config.runs.maxQueuedPerTarget,
          target.environmentId,
          flow.id,
          connection.id,
          caller.userId,
          body.runMode,
          priority,
          priority === 'High' ? 0 : 1,
          inputs,
          config.now(),
          audit.actorType,
          audit.actorId,
          audit.action,
          audit.detail,
          WAKE_CHANNEL,
          wakePayload(dispatcherOf(context).instanceId, { kind: 'queued', groupId, machineId }),
        ],
        PREPARED,
      );
      if (queued?.outcome === 'TargetDeleted') throw new ApiError('ConnectionBroken', 'The connection is broken: its target was deleted.');
      if (queued?.outcome === 'QueueFull') {
        throw new ApiError(
          'QueueFull',
          `${target.name} already has ${config.runs.maxQueuedPerTarget} queued runs; wait for some to start or cancel them.`,
        );
      }
      const id = queued?.run_id;
      if (!id) throw new Error('queue_run answered without a run');
      // This instance offers it to its own free machines of the target at once.
      dispatcherOf(context).runQueued({ groupId, machineId });
      return reply.status(202).send({ id, status: 'Queued' as const });
    },
  );

  app.get(
    '/runs/:id',
    {
      schema: {
        tags: ['runs'],
        summary: 'A run: its state, machine, attempt, times, outputs or error, and why it waits while queued',
        params: IdParams,
        response: { 200: Run, 400: problem, 401: problem, 403: problem, 404: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const row = await runFor(db, caller.userId, (request.params as { id: string }).id, 'view');
      return runView(context, row, new RunViewer(db, caller.userId));
    },
  );

  app.get(
    '/runs',
    {
      schema: {
        tags: ['runs'],
        summary: "Runs, newest first: a group's queue and history (groupId), a machine's (machineId), or your own",
        querystring: ListRunsQuery,
        response: { 200: Type.Array(Run), 400: problem, 401: problem, 403: problem, 404: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const query = request.query as ListRunsQuery;
      const limit = query.limit ?? 100;
      let rows: RunRow[];
      if (query.groupId) {
        const [group] = await db.query<{ environment_id: string }>('SELECT environment_id FROM machine_groups WHERE id = $1', [query.groupId]);
        const access = group ? await groupAccessOf(db, query.groupId, caller.userId) : null;
        if (!group || !canSeeGroup(await loadActor(db, caller.userId, group.environment_id), access)) {
          throw new ApiError('NotFound', 'The machine group was not found.');
        }
        rows = await db.query<RunRow>(
          `SELECT ${RUN_COLUMNS} FROM runs
            WHERE (group_id = $1 OR machine_id IN (SELECT id FROM machines WHERE group_id = $1)) AND ($2::text IS NULL OR status = $2)
            ORDER BY queued_at DESC, id LIMIT $3`,
          [query.groupId, query.status ?? null, limit],
        );
      } else if (query.machineId) {
        const [machine] = await db.query<{ environment_id: string; owner_id: string; group_id: string | null }>(
          'SELECT environment_id, owner_id, group_id FROM machines WHERE id = $1',
          [query.machineId],
        );
        const groupAccess = machine?.group_id ? await groupAccessOf(db, machine.group_id, caller.userId) : null;
        if (
          !machine ||
          decideMachineAction(await loadActor(db, caller.userId, machine.environment_id), { ownsMachine: machine.owner_id === caller.userId, groupAccess }, 'view') !==
            'allow'
        ) {
          throw new ApiError('NotFound', 'The machine was not found.');
        }
        rows = await db.query<RunRow>(
          `SELECT ${RUN_COLUMNS} FROM runs WHERE (machine_id = $1 OR target_machine_id = $1) AND ($2::text IS NULL OR status = $2)
            ORDER BY queued_at DESC, id LIMIT $3`,
          [query.machineId, query.status ?? null, limit],
        );
      } else {
        rows = await db.query<RunRow>(
          `SELECT ${RUN_COLUMNS} FROM runs WHERE created_by = $1 AND ($2::text IS NULL OR status = $2) ORDER BY queued_at DESC, id LIMIT $3`,
          [caller.userId, query.status ?? null, limit],
        );
      }
      const views: RunView[] = [];
      const viewer = new RunViewer(db, caller.userId);
      for (const row of rows) views.push(await runView(context, row, viewer));
      return views;
    },
  );

  app.post(
    '/runs/:id/cancel',
    {
      schema: {
        tags: ['runs'],
        summary: 'Cancel a run: a queued (or not yet accepted) run ends at once; a running one is stopped on its machine (whole process tree)',
        description: 'Answers with the run. While the machine stops the flow the run stays Running with cancelRequestedAt set. 409 RunFinished when it already ended.',
        params: IdParams,
        response: { 200: Run, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const runId = (request.params as { id: string }).id;
      await runFor(db, caller.userId, runId, 'cancel');
      const now = config.now();
      const outcome = await db.transaction(async (tx) => {
        const [run] = await tx.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1 FOR UPDATE`, [runId]);
        if (!run) throw new ApiError('NotFound', 'The run was not found.');
        if (['Succeeded', 'Failed', 'Cancelled', 'TimedOut'].includes(run.status)) {
          throw new ApiError('RunFinished', `The run already ended (${run.status}).`);
        }
        // Not accepted yet means not started: it ends now. Otherwise the machine must stop it.
        const endsNow = run.status === 'Queued' || (run.status === 'Assigned' && !(await isAccepted(tx, runId)));
        if (endsNow) {
          await tx.query(
            `UPDATE runs SET status = 'Cancelled', finished_at = $2, cancel_requested_at = $2, error_code = 'Cancelled',
                    error_message = 'Cancelled before it started.', accept_deadline = NULL WHERE id = $1`,
            [runId, now],
          );
        } else {
          await tx.query('UPDATE runs SET cancel_requested_at = COALESCE(cancel_requested_at, $2) WHERE id = $1', [runId, now]);
          await tx.query(`INSERT INTO run_events (run_id, at, kind, machine_id, attempt, actor_id) VALUES ($1, $2, 'CancelRequested', $3, $4, $5)`, [
            runId,
            now,
            run.machine_id,
            run.attempt,
            caller.userId,
          ]);
        }
        await recordAudit(tx, {
          actor: caller,
          action: 'run.cancelled',
          targetType: 'run',
          targetId: runId,
          environmentId: run.environment_id,
          detail: { status: run.status },
        });
        if (run.machine_id) {
          // The instance holding that machine's socket tells the agent (and frees the machine).
          await dispatcherOf(context).announce(tx, [
            { kind: 'stop', runId, attempt: run.attempt, machineId: run.machine_id, reason: 'Cancelled', free: endsNow },
          ]);
        }
        return { machineId: run.machine_id, attempt: run.attempt, endsNow };
      });
      if (outcome.machineId) {
        const dispatcher = dispatcherOf(context);
        dispatcher.sendCancel(outcome.machineId, runId, outcome.attempt, 'Cancelled');
        if (outcome.endsNow) dispatcher.machineMayBeFree(outcome.machineId);
      }
      return runView(context, (await loadRun(db, runId))!, new RunViewer(db, caller.userId));
    },
  );

  app.get(
    '/runs/:id/logs',
    {
      schema: {
        tags: ['runs'],
        summary: "A run's log lines (stdout, stderr and system lines), oldest first; page with `after` (a seq)",
        params: IdParams,
        querystring: RunLogsQuery,
        response: { 200: RunLogs, 400: problem, 401: problem, 403: problem, 404: problem },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const runId = (request.params as { id: string }).id;
      const row = await runFor(db, caller.userId, runId, 'view');
      const { after, limit } = request.query as { after?: number; limit?: number };
      const lines = await db.query<{ seq: number; at: Date; stream: 'stdout' | 'stderr' | 'system'; line: string }>(
        'SELECT seq, at, stream, line FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [runId, after ?? 0, limit ?? 1000],
      );
      return {
        runId,
        lines: lines.map((l) => ({ seq: l.seq, at: l.at.toISOString(), stream: l.stream, line: l.line })),
        truncated: row.log_lines > config.runs.maxLogLines,
      };
    },
  );
};

async function isAccepted(db: Queryable, runId: string): Promise<boolean> {
  const [row] = await db.query<{ accepted: boolean }>('SELECT accepted_at IS NOT NULL AS accepted FROM runs WHERE id = $1', [runId]);
  return row?.accepted ?? false;
}
