/**
 * Runs as the desktop app shows them (protocol/desktop-api.ts `RunSchema`): a group's run queue
 * and this machine's history, from the cloud's run API (protocol/api/runs.ts), with the flow and
 * machine names filled in and what the signed-in user may do with each run.
 *
 * What the user may do with each run (`allowedActions`) is the cloud's answer (its policy
 * module decides it per run); the app offers only those actions, and still shows the cloud's 403
 * when access changed in between.
 *
 * Plain Node: used by the desktop service, no `electron` import.
 */
import { FINAL_RUN_STATUSES, type DesktopFlow, type Machine, type Run, type RunStatus } from '../../protocol/cloud-api.ts';
import type { DesktopGroupMachine, DesktopGroupRuns, DesktopMachineRuns, DesktopRun, DesktopRunEvents } from '../../protocol/desktop-api.ts';
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
 * 1 = next: moved to top, then High, then Normal, oldest first). Two reads of a queue that
 * changes in between may tie: oldest first then.
 */
export function queueOrder(a: Run, b: Run): number {
  return (a.queuePosition ?? Infinity) - (b.queuePosition ?? Infinity) || a.queuedAt.localeCompare(b.queuedAt) || a.id.localeCompare(b.id);
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

  /** Names the groups these runs were queued on (a group the user cannot see keeps a generic name). */
  async learnTargets(cloud: CloudClient, runs: readonly Run[]): Promise<void> {
    const unknown = [...new Set(runs.flatMap((r) => (r.target.type === 'MachineGroup' && !this.targets.has(r.target.id) ? [r.target.id] : [])))];
    await Promise.all(
      unknown.slice(0, 20).map(async (id) => {
        try {
          this.targets.set(id, (await cloud.getGroup(id)).name);
        } catch (error) {
          if (!isCloudError(error, 'NotFound')) throw error;
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
  thisMachineId: string | undefined;
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
    allowedActions: [...run.allowedActions],
  };
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
  who: { thisMachineId: string | undefined },
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
  const context: ViewContext = { names, thisMachineId: who.thisMachineId };
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
): Promise<DesktopMachineRuns> {
  const machine = await cloud.getMachine(machineId);
  names.rememberMachines([machine]);
  names.rememberTarget(machine.id, machine.name);
  const latest = await cloud.listRuns({ machineId, limit: 50 });
  const current = latest.filter((r) => !isFinished(r.status)).sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
  const recent = latest.filter((r) => isFinished(r.status)).slice(0, RECENT_RUNS);
  const shown = [...current, ...recent];

  // Runs queued on a group: the group's name.
  await Promise.all([names.learnTargets(cloud, shown), names.learnFlows(cloud, machine.environmentId, shown), names.learnMachines(cloud, shown)]);
  const context: ViewContext = { names, thisMachineId: machineId };
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
