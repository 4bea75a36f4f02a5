/**
 * Runs as the desktop app shows them (protocol/desktop-api.ts `RunSchema`): a group's run queue
 * and this machine's history, from the cloud's run API (protocol/api/runs.ts), with the flow and
 * machine names filled in and what the signed-in user may do with each run.
 *
 * What the user may do with each run (`allowedActions`) follows the cloud's rule
 * (cloud/src/policy/permissions.ts, `decideRunAction` and its RUN_ACTIONS table), from what the
 * cloud tells: whether the user manages the run's target (the group's or machine's own
 * `allowedActions`, which already count admins) and whether they queued it (`createdBy`). The
 * cloud still decides every action; the app only avoids offering what it would refuse (and shows
 * the cloud's 403 when the two disagree, e.g. after access changed).
 *
 * Plain Node: used by the desktop service, no `electron` import.
 */
import { FINAL_RUN_STATUSES, type DesktopFlow, type Machine, type MachineGroup, type Run, type RunStatus } from '../../protocol/cloud-api.ts';
import type {
  DesktopGroupMachine,
  DesktopGroupRuns,
  DesktopMachineRuns,
  DesktopRun,
  DesktopRunEvents,
  RunAction,
} from '../../protocol/desktop-api.ts';
import { isCloudError, type CloudClient } from './cloud-client.ts';

/** How many ended runs the queue and the machine's history show. */
export const RECENT_RUNS = 10;
/** The most queued runs a group can hold (the cloud's default limit); the queue lists them all. */
const MAX_QUEUED_LISTED = 500;

export function isFinished(status: RunStatus): boolean {
  return FINAL_RUN_STATUSES.includes(status);
}

export function toGroupMachine(m: Machine, thisMachineId: string | undefined): DesktopGroupMachine {
  return {
    id: m.id,
    name: m.name,
    description: m.description,
    status: m.status,
    maintenance: m.maintenance,
    lastSeenAt: m.lastSeenAt,
    owner: { id: m.owner.id, displayName: m.owner.displayName },
    isThisMachine: m.id === thisMachineId,
  };
}

/**
 * The order the dispatcher starts queued runs in, as the cloud numbers them (`queuePosition`,
 * 1 = next); without a position (an older cloud), its rule: moved to top (latest first), then
 * High before Normal, then oldest first.
 */
export function queueOrder(a: Run, b: Run): number {
  if (a.queuePosition !== undefined && b.queuePosition !== undefined && a.queuePosition !== b.queuePosition) {
    return a.queuePosition - b.queuePosition;
  }
  const rank = (r: Run) => (r.movedToTopAt ? -1 : r.priority === 'High' ? 0 : 1);
  return (
    rank(a) - rank(b) ||
    (b.movedToTopAt ?? '').localeCompare(a.movedToTopAt ?? '') ||
    a.queuedAt.localeCompare(b.queuedAt) ||
    a.id.localeCompare(b.id)
  );
}

/**
 * What the user may do with a run now. Who may (the cloud's RUN_ACTIONS): those who manage its
 * target everything, whoever queued it cancel and change priority, anyone else who sees it
 * nothing. When: cancel until it ends (not twice), priority and move to top while it is queued.
 */
export function allowedRunActions(run: Run, relation: { isCreator: boolean; managesTarget: boolean }): RunAction[] {
  const may: readonly RunAction[] = relation.managesTarget
    ? ['cancel', 'changePriority', 'moveToTop']
    : relation.isCreator
      ? ['cancel', 'changePriority']
      : [];
  const finished = isFinished(run.status);
  return may.filter((action) =>
    action === 'cancel' ? !finished && run.cancelRequestedAt === null : run.status === 'Queued',
  );
}

/**
 * Flow and machine names, kept between calls (the app polls the queue every few seconds, and a
 * flow's script can be large: the flows are listed again only when an unknown flow shows up).
 */
export class RunNames {
  private readonly flows = new Map<string, string>();
  private readonly listedFlowsOf = new Map<string, number>();
  private readonly machines = new Map<string, string>();
  private readonly targets = new Map<string, string>();

  rememberMachines(machines: readonly Pick<Machine, 'id' | 'name'>[]): void {
    for (const m of machines) this.machines.set(m.id, m.name);
  }

  rememberTarget(id: string, name: string): void {
    this.targets.set(id, name);
  }

  /** Makes sure the flows of these runs are named (one listing per environment at most every 2 s). */
  async learnFlows(cloud: CloudClient, environmentId: string, runs: readonly Run[]): Promise<void> {
    if (runs.every((r) => this.flows.has(r.desktopFlowId))) return;
    const last = this.listedFlowsOf.get(environmentId) ?? 0;
    if (Date.now() - last < 2000) return;
    this.listedFlowsOf.set(environmentId, Date.now());
    try {
      const flows = await cloud.request<DesktopFlow[]>('GET', '/desktop-flows', { query: { environmentId } });
      for (const flow of flows) this.flows.set(flow.id, flow.name);
    } catch (error) {
      // A run stays listed without its flow's name rather than the whole queue failing.
      if (!isCloudError(error, 'NotFound') && !isCloudError(error, 'Forbidden')) throw error;
    }
  }

  /** Names the machines these runs went to that the caller has not listed (they left the group). */
  async learnMachines(cloud: CloudClient, runs: readonly Run[]): Promise<void> {
    const unknown = [...new Set(runs.flatMap((r) => (r.machineId && !this.machines.has(r.machineId) ? [r.machineId] : [])))];
    await Promise.all(
      unknown.slice(0, 20).map(async (id) => {
        try {
          this.machines.set(id, (await cloud.getMachine(id)).name);
        } catch (error) {
          if (!isCloudError(error, 'NotFound')) throw error;
          this.machines.set(id, 'A machine you cannot see');
        }
      }),
    );
  }

  flowName(id: string): string {
    return this.flows.get(id) ?? 'Desktop flow';
  }

  machineName(id: string): string {
    return this.machines.get(id) ?? 'Machine';
  }

  targetName(id: string): string {
    return this.targets.get(id) ?? this.machines.get(id) ?? 'Machine group';
  }
}

export interface ViewContext {
  names: RunNames;
  userId: string | null;
  thisMachineId: string | undefined;
  /** Whether the user manages this run's target (may cancel anyone's run on it). */
  managesTarget(run: Run): boolean;
}

export function toDesktopRun(run: Run, context: ViewContext): DesktopRun {
  const finished = isFinished(run.status);
  const queued = run.status === 'Queued';
  return {
    id: run.id,
    status: run.status,
    flow: { id: run.desktopFlowId, name: context.names.flowName(run.desktopFlowId) },
    runMode: run.runMode,
    priority: run.priority,
    target: { type: run.target.type, id: run.target.id, name: context.names.targetName(run.target.id) },
    machine: run.machineId
      ? { id: run.machineId, name: context.names.machineName(run.machineId), isThisMachine: run.machineId === context.thisMachineId }
      : null,
    queuedAt: run.queuedAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    waitingReason: run.status === 'Queued' ? (run.waitingReason ?? null) : null,
    waitingDetail: run.status === 'Queued' ? (run.waitingDetail ?? null) : null,
    error: run.error ? { code: run.error.code, message: run.error.message } : null,
    cancelRequested: run.cancelRequestedAt !== null && !finished,
    queuePosition: queued ? (run.queuePosition ?? null) : null,
    movedToTopAt: queued ? (run.movedToTopAt ?? null) : null,
    allowedActions: allowedRunActions(run, { isCreator: run.createdBy === context.userId, managesTarget: context.managesTarget(run) }),
  };
}

/**
 * One run as the app shows it, after an action on it (cancel, priority, move to top): whether
 * the user manages its target is asked of the cloud (its group's or machine's allowed actions).
 */
export async function describeRun(
  cloud: CloudClient,
  names: RunNames,
  run: Run,
  who: { userId: string | null; thisMachineId: string | undefined },
): Promise<DesktopRun> {
  let manages = false;
  try {
    if (run.target.type === 'MachineGroup') {
      const group = await cloud.getGroup(run.target.id);
      names.rememberTarget(group.id, group.name);
      manages = group.allowedActions.includes('editDetails');
    } else {
      const machine = await cloud.getMachine(run.target.id);
      names.rememberMachines([machine]);
      names.rememberTarget(machine.id, machine.name);
      manages = machine.access === 'Owner' || machine.allowedActions.includes('edit');
    }
  } catch (error) {
    // Whoever queued a run sees it without seeing its target: they just do not manage it.
    if (!isCloudError(error, 'NotFound')) throw error;
  }
  return toDesktopRun(run, { names, ...who, managesTarget: () => manages });
}

/** A run's queue events, oldest first, with the optional fields the cloud leaves out made explicit. */
export async function runEvents(cloud: CloudClient, runId: string): Promise<DesktopRunEvents> {
  const { runId: id, events } = await cloud.runEvents(runId);
  return {
    runId: id,
    events: events.map((e) => ({
      at: e.at,
      kind: e.kind,
      machine: e.machine ? { id: e.machine.id, name: e.machine.name } : null,
      attempt: e.attempt ?? null,
      actor: e.actor ? { id: e.actor.id, displayName: e.actor.displayName } : null,
      priority: e.priority ?? null,
      status: e.status ?? null,
      code: e.code ?? null,
      message: e.message ?? null,
    })),
  };
}

/** A group's queue: running, queued (in start order) and the last that ended. */
export async function groupRuns(
  cloud: CloudClient,
  names: RunNames,
  groupId: string,
  who: { userId: string | null; thisMachineId: string | undefined },
): Promise<DesktopGroupRuns> {
  // The group first: a group the user cannot see is NotFound before anything else is asked.
  const group = await cloud.getGroup(groupId);
  names.rememberTarget(group.id, group.name);
  const [queued, assigned, running, latest, machines] = await Promise.all([
    cloud.listRuns({ groupId, status: 'Queued', limit: MAX_QUEUED_LISTED }),
    cloud.listRuns({ groupId, status: 'Assigned', limit: 100 }),
    cloud.listRuns({ groupId, status: 'Running', limit: 100 }),
    cloud.listRuns({ groupId, limit: 50 }),
    cloud.listGroupMachines(groupId),
  ]);
  names.rememberMachines(machines);
  const recent = latest.filter((r) => isFinished(r.status)).slice(0, RECENT_RUNS);
  const all = [...queued, ...assigned, ...running, ...recent];
  await Promise.all([names.learnFlows(cloud, group.environmentId, all), names.learnMachines(cloud, all)]);
  const manages = group.allowedActions.includes('editDetails');
  const context: ViewContext = { names, ...who, managesTarget: (run) => run.target.type === 'MachineGroup' && run.target.id === group.id && manages };
  const view = (runs: Run[]) => runs.map((r) => toDesktopRun(r, context));
  return {
    groupId: group.id,
    running: view([...assigned, ...running].sort((a, b) => a.queuedAt.localeCompare(b.queuedAt))),
    queued: view([...queued].sort(queueOrder)),
    recent: view(recent),
  };
}

/** This machine: its status, maintenance switch, current runs and the last that ended. */
export async function machineRuns(
  cloud: CloudClient,
  names: RunNames,
  machineId: string,
  who: { userId: string | null },
): Promise<DesktopMachineRuns> {
  const machine = await cloud.getMachine(machineId);
  names.rememberMachines([machine]);
  names.rememberTarget(machine.id, machine.name);
  const latest = await cloud.listRuns({ machineId, limit: 50 });
  const current = latest.filter((r) => !isFinished(r.status)).sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
  const recent = latest.filter((r) => isFinished(r.status)).slice(0, RECENT_RUNS);
  const shown = [...current, ...recent];

  // Runs queued on a group: the group's name, and whether the user manages it.
  const groupIds = [...new Set(shown.flatMap((r) => (r.target.type === 'MachineGroup' ? [r.target.id] : [])))];
  const groups = new Map<string, MachineGroup | null>();
  await Promise.all(
    groupIds.map(async (id) => {
      try {
        const group = await cloud.getGroup(id);
        groups.set(id, group);
        names.rememberTarget(id, group.name);
      } catch (error) {
        if (!isCloudError(error, 'NotFound')) throw error;
        groups.set(id, null);
      }
    }),
  );
  await Promise.all([names.learnFlows(cloud, machine.environmentId, shown), names.learnMachines(cloud, shown)]);
  const managesMachine = machine.access === 'Owner' || machine.allowedActions.includes('edit');
  const context: ViewContext = {
    names,
    userId: who.userId,
    thisMachineId: machineId,
    managesTarget: (run) =>
      run.target.type === 'Machine'
        ? run.target.id === machine.id && managesMachine
        : (groups.get(run.target.id)?.allowedActions.includes('editDetails') ?? false),
  };
  return {
    machine: {
      id: machine.id,
      name: machine.name,
      status: machine.status,
      maintenance: machine.maintenance,
      mayEdit: machine.allowedActions.includes('edit'),
    },
    current: current.map((r) => toDesktopRun(r, context)),
    recent: recent.map((r) => toDesktopRun(r, context)),
  };
}
