/**
 * A run as the API shows it: the row the routes read, and its view (with why it waits while
 * queued). Shared by the run routes and the queue actions.
 */
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import { FINAL_RUN_STATUSES, type Run as RunView, type RunQueueAction } from '../../../protocol/cloud-api.ts';
import { allowedRunActions, type RunAction } from '../policy/permissions.ts';
import { ApiError } from '../http/problem.ts';
import { waitingReason } from './waiting.ts';
import { decideRunVisibility, runTargetRelation } from './targets.ts';

export type RunRow = {
  id: string;
  environment_id: string;
  flow_id: string;
  connection_id: string;
  created_by: string;
  group_id: string | null;
  target_machine_id: string | null;
  run_mode: 'Attended' | 'Unattended';
  priority: 'High' | 'Normal';
  status: RunView['status'];
  attempt: number;
  machine_id: string | null;
  queued_at: Date;
  assigned_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  cancel_requested_at: Date | null;
  moved_to_top_at: Date | null;
  priority_rank: number;
  inputs: unknown;
  outputs: unknown;
  error_code: string | null;
  error_message: string | null;
  rejected_by: string[];
  log_lines: number;
};

export const RUN_COLUMNS = `id, environment_id, flow_id, connection_id, created_by, group_id, target_machine_id, run_mode, priority,
  status, attempt, machine_id, queued_at, assigned_at, started_at, finished_at, cancel_requested_at, moved_to_top_at, priority_rank,
  inputs, outputs,
  error_code, error_message, rejected_by, log_lines`;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Who looks at runs (one per request): what they may do to each run, from the policy module.
 * Their roles and access are loaded once per target, not once per run of a long list.
 */
export class RunViewer {
  private readonly relations = new Map<string, ReturnType<typeof runTargetRelation>>();

  constructor(
    private readonly db: Queryable,
    readonly userId: string,
  ) {}

  async allowedActions(row: RunRow): Promise<RunQueueAction[]> {
    const key = `${row.environment_id}/${row.group_id ?? `m:${row.target_machine_id}`}`;
    let relation = this.relations.get(key);
    if (!relation) this.relations.set(key, (relation = runTargetRelation(this.db, this.userId, row)));
    const { actor, target } = await relation;
    const finished = FINAL_RUN_STATUSES.includes(row.status);
    // When each makes sense: cancel until the run ends (once), reordering while it waits in the queue.
    return allowedRunActions(actor, { isCreator: row.created_by === this.userId, target }).filter((action) =>
      action === 'cancel' ? !finished && row.cancel_requested_at === null : row.status === 'Queued',
    );
  }
}

export async function runView(context: CloudContext, row: RunRow, viewer: RunViewer): Promise<RunView> {
  const view: RunView = {
    id: row.id,
    status: row.status,
    desktopFlowId: row.flow_id,
    connectionId: row.connection_id,
    target: row.group_id ? { type: 'MachineGroup', id: row.group_id } : { type: 'Machine', id: row.target_machine_id! },
    runMode: row.run_mode,
    priority: row.priority,
    machineId: row.machine_id,
    attempt: row.attempt,
    queuedAt: row.queued_at.toISOString(),
    assignedAt: iso(row.assigned_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    cancelRequestedAt: iso(row.cancel_requested_at),
    movedToTopAt: iso(row.moved_to_top_at),
    inputs: row.inputs,
    outputs: row.outputs ?? null,
    createdBy: row.created_by,
    allowedActions: await viewer.allowedActions(row),
  };
  if (row.error_code) view.error = { code: row.error_code, message: row.error_message ?? '' };
  if (row.status === 'Queued') {
    const waiting = await waitingReason(context.db, row, context.config.now(), context.config.runs);
    view.waitingReason = waiting.reason;
    view.waitingDetail = waiting.detail;
    view.queuePosition = await queuePositionOf(context.db, row);
  }
  return view;
}

export async function loadRun(db: Queryable, id: string): Promise<RunRow | null> {
  const [row] = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
  return row ?? null;
}

/**
 * Where a queued run stands in its queue (1 = next to run), in the dispatcher's order
 * (queue.ts): moved to top (latest move first), then High, then Normal, oldest first. A run
 * that no free machine can take is skipped by the dispatcher, so this is the order, not a promise.
 */
async function queuePositionOf(db: Queryable, row: RunRow): Promise<number> {
  // One sort key per level: the latest move to top sorts first, hence the negated epoch.
  const [ahead] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM runs o
      WHERE o.status = 'Queued' AND o.id <> $1
        AND ((o.group_id = $2) OR (o.target_machine_id = $3))
        AND (o.priority_rank, COALESCE(-extract(epoch FROM o.moved_to_top_at), 0), o.queued_at, o.id)
          < ($4::smallint, COALESCE(-extract(epoch FROM $5::timestamptz), 0), $6::timestamptz, $1::uuid)`,
    [row.id, row.group_id, row.target_machine_id, row.priority_rank, row.moved_to_top_at, row.queued_at],
  );
  return (ahead?.n ?? 0) + 1;
}

const FORBIDDEN: Record<RunQueueAction, string> = {
  cancel: 'Only whoever queued the run, or those who manage its target, may cancel it.',
  changePriority: "Only whoever queued the run, or a co-owner of its machine group, may change its priority.",
  moveToTop: 'Only a co-owner of the machine group (or the machine owner, or an admin) may move a run to the top of the queue.',
};

/** The run, if the caller may do `action` to it: 404 when they may not see it, 403 when they may only look. */
export async function runFor(db: Queryable, userId: string, runId: string, action: RunAction): Promise<RunRow> {
  const run = await loadRun(db, runId);
  const decision = run ? await decideRunVisibility(db, userId, run, action) : 'hidden';
  if (decision === 'hidden') throw new ApiError('NotFound', 'The run was not found.');
  if (decision === 'forbidden') throw new ApiError('Forbidden', action === 'view' ? 'You may not see this run.' : FORBIDDEN[action]);
  return run!;
}
