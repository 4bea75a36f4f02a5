/**
 * A run as the API shows it: the row the routes read, and its view (with why it waits while
 * queued). Shared by the run routes and the queue actions.
 */
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import { FINAL_RUN_STATUSES, type Run as RunView, type RunQueueAction } from '../../../protocol/cloud-api.ts';
import { allowedRunActions, type RunAction } from '../policy/permissions.ts';
import { ApiError } from '../http/problem.ts';
import { dispatchOrder } from './queue.ts';
import { loadTargetMachines, waitingReason, type TargetMachines } from './waiting.ts';
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
  run_as_account: string;
};

export const RUN_COLUMNS = `id, environment_id, flow_id, connection_id, created_by, group_id, target_machine_id, run_mode, priority,
  status, attempt, machine_id, queued_at, assigned_at, started_at, finished_at, cancel_requested_at, moved_to_top_at, priority_rank,
  inputs, outputs,
  error_code, error_message, rejected_by, log_lines,
  (SELECT account_name(c.username) FROM connections c WHERE c.id = runs.connection_id) AS run_as_account`;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Who looks at runs (one per request): what they may do to each run, from the policy module,
 * and for queued runs their place in the queue and why they wait. What is the same for every
 * run of a target (the viewer's roles and access, the queue's order, its machines) is loaded
 * once per target, not once per run of a long list.
 */
export class RunViewer {
  private readonly relations = new Map<string, ReturnType<typeof runTargetRelation>>();
  private readonly queues = new Map<string, Promise<Map<string, number>>>();
  private readonly machines = new Map<string, Promise<TargetMachines>>();

  constructor(
    private readonly db: Queryable,
    readonly userId: string,
  ) {}

  private once<T>(cache: Map<string, Promise<T>>, row: RunRow, load: () => Promise<T>): Promise<T> {
    const key = `${row.environment_id}/${row.group_id ?? `m:${row.target_machine_id}`}`;
    let value = cache.get(key);
    if (!value) cache.set(key, (value = load()));
    return value;
  }

  /** Where a queued run stands in its queue (1 = next to run), in the dispatcher's order (queue.ts claim). */
  async queuePosition(row: RunRow): Promise<number> {
    const order = await this.once(this.queues, row, async () => {
      const ids = await this.db.query<{ id: string }>(
        `SELECT id FROM runs WHERE status = 'Queued' AND ${row.group_id ? 'group_id' : 'target_machine_id'} = $1
          ORDER BY ${dispatchOrder()}`,
        [row.group_id ?? row.target_machine_id],
      );
      return new Map(ids.map((r, index) => [r.id, index + 1]));
    });
    // Queued after this request read the queue: it is last.
    return order.get(row.id) ?? order.size + 1;
  }

  targetMachines(row: RunRow): Promise<TargetMachines> {
    return this.once(this.machines, row, () => loadTargetMachines(this.db, row));
  }

  async allowedActions(row: RunRow): Promise<RunQueueAction[]> {
    const { actor, target } = await this.once(this.relations, row, () => runTargetRelation(this.db, this.userId, row));
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
    const waiting = waitingReason(row, await viewer.targetMachines(row), context.config.now(), context.config.runs);
    view.waitingReason = waiting.reason;
    view.waitingDetail = waiting.detail;
    view.queuePosition = await viewer.queuePosition(row);
  }
  return view;
}

export async function loadRun(db: Queryable, id: string): Promise<RunRow | null> {
  const [row] = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
  return row ?? null;
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
