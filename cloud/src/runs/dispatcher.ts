/**
 * The push dispatcher (one per cloud instance). It hands queued runs to the machines whose
 * agents are connected to THIS instance, the moment something changes:
 *   - a run is queued          → its queue is offered to the free machines of its target;
 *   - a machine says hello, finishes or refuses a run, or heartbeats while idle → the machine
 *     claims the next run it may take;
 *   - another instance announces (wakeups.ts, LISTEN/NOTIFY) that a run was queued or put
 *     back, or that a run on one of our machines must stop → the same, here, at once;
 *   - the sweep (every `runs.sweepSeconds`) → timeouts, lapsed leases, stale assignments, and
 *     a dispatch pass over every queue with work (the safety net: it also covers maintenance
 *     being switched off and wake-ups missed while the listening connection was away).
 * Claims are single SQL statements (queue.ts); this class only decides who to ask and keeps
 * each machine's messages in order. Work is spread across a group's free machines by offering
 * a queue to the machine that has waited longest first.
 */
import { randomUUID } from 'node:crypto';
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import type { Subscription } from '../db/notify.ts';
import type { AgentHubListener } from '../agent/hub.ts';
import type { CloudMessage, HeartbeatMessage, HelloMessage, RunReport } from '../../../protocol/agent-messages.ts';
import {
  acceptRun,
  activeRunOf,
  appendLogs,
  claimForMachine,
  extendLeases,
  finishRun,
  requeueAssignment,
  requeueMachineAssignments,
  startRun,
  type Assignment,
  type MachineCapabilities,
  type QueueTarget,
  type RequeueReason,
} from './queue.ts';
import { pendingCancels, queuesWithWork, sweepRuns } from './maintenance.ts';
import { announce, parseWake, WAKE_CHANNEL, type StopReason, type WakeEvent } from './wakeups.ts';

interface LocalMachine {
  id: string;
  groupId: string | null;
  capabilities: MachineCapabilities;
  /** A hint (the database decides): this machine holds a run. */
  busy: boolean;
  /** When it was last given a run (ms), to spread work. */
  lastAssignedAt: number;
}

/** Coalescing runner: at most one pass at a time per key; a request during a pass causes one more. */
class Coalescer {
  private readonly state = new Map<string, { again: boolean; done: Promise<void> }>();

  run(key: string, pass: () => Promise<void>): Promise<void> {
    const current = this.state.get(key);
    if (current) {
      current.again = true;
      return current.done;
    }
    const entry = { again: false, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await pass();
        } while (entry.again);
      } finally {
        this.state.delete(key);
      }
    })();
    this.state.set(key, entry);
    return entry.done;
  }
}

const dispatchers = new WeakMap<CloudContext, RunDispatcher>();

/** The dispatcher of an app context (tests drive its sweep with an injected clock). */
export function dispatcherOf(context: CloudContext): RunDispatcher {
  const dispatcher = dispatchers.get(context);
  if (!dispatcher) throw new Error('the runs area is not registered on this app');
  return dispatcher;
}

export class RunDispatcher implements AgentHubListener {
  private readonly machines = new Map<string, LocalMachine>();
  private readonly machineChains = new Map<string, Promise<void>>();
  private readonly claims = new Coalescer();
  private readonly queues = new Coalescer();
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private sweeping: Promise<void> | undefined;
  private readonly leasesJudgedFrom: Date;
  private subscription: Subscription | undefined;
  /** Tells this instance's announcements from the others' (each instance ignores its own). */
  readonly instanceId = randomUUID();

  constructor(private readonly context: CloudContext) {
    this.leasesJudgedFrom = new Date(context.config.now().getTime() + context.config.runs.leaseSeconds * 1000);
    dispatchers.set(context, this);
  }

  async start(): Promise<void> {
    this.context.agentHub.setListener(this);
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), this.context.config.runs.sweepSeconds * 1000);
    this.timer.unref();
    this.subscription = await this.context.db.listen(WAKE_CHANNEL, {
      message: (payload) => this.wake(payload),
      // Announcements made while the connection was away are lost: catch up at once.
      reconnected: () => this.track(this.sweep()),
    });
  }

  async stop(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.context.agentHub.setListener(undefined);
    await this.subscription?.close();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Runs background work, tracked so `stop` can wait for it; errors are logged, not thrown. */
  private track(work: Promise<unknown>): void {
    if (this.closed) return;
    const tracked = work.catch((error: unknown) => {
      if (!this.closed) console.error('[runs] dispatcher error:', error);
    });
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  /** Runs `fn` after every earlier piece of work for this machine (messages stay in order). */
  private inOrder(machineId: string, fn: () => Promise<void>): void {
    const previous = this.machineChains.get(machineId) ?? Promise.resolve();
    const next = previous.then(fn, fn).catch((error: unknown) => {
      if (!this.closed) console.error('[runs] report handling error:', error);
    });
    this.machineChains.set(machineId, next);
    void next.finally(() => {
      if (this.machineChains.get(machineId) === next) this.machineChains.delete(machineId);
    });
    this.track(next);
  }

  private send(machineId: string, message: CloudMessage): boolean {
    return this.context.agentHub.send(machineId, message);
  }

  // ── wake-ups ──────────────────────────────────────────────────────────────────────────

  /**
   * Announces events to the other instances, on the transaction that makes the change
   * (delivered when it commits). This instance acts on them itself, directly.
   */
  announce(tx: Queryable, events: readonly WakeEvent[]): Promise<void> {
    return announce(tx, this.instanceId, events);
  }

  /** Another instance announced something (wakeups.ts). */
  private wake(payload: string): void {
    if (this.closed) return;
    const wake = parseWake(payload);
    if (!wake || wake.from === this.instanceId) return;
    const { event } = wake;
    if (event.kind === 'queued') {
      this.runQueued({ groupId: event.groupId, machineId: event.machineId });
      return;
    }
    if (event.kind === 'moved') {
      this.machineMoved(event.machineId, event.groupId);
      return;
    }
    if (!this.machines.has(event.machineId)) return;
    this.sendCancel(event.machineId, event.runId, event.attempt, event.reason);
    if (event.free) this.machineMayBeFree(event.machineId);
  }

  /** Puts an unaccepted assignment back in the queue, announced; the queue is offered again. */
  private async requeue(runId: string, attempt: number, machineId: string, reason: RequeueReason): Promise<void> {
    const target = await this.context.db.transaction(async (tx) => {
      const back = await requeueAssignment(tx, runId, attempt, machineId, this.context.config.now(), reason);
      if (back) await this.announce(tx, [{ kind: 'queued', ...back }]);
      return back;
    });
    if (target) this.runQueued(target);
  }

  /**
   * Maintenance was switched off (for a group, or a machine in `groupId` or alone): its queues
   * may hand out runs again. Announced on `tx` for the instances holding the machines; call
   * `queuesReopened` after the commit for this instance.
   */
  announceQueuesReopened(tx: Queryable, targets: readonly QueueTarget[]): Promise<void> {
    return this.announce(tx, targets.map((target) => ({ kind: 'queued' as const, ...target })));
  }

  /**
   * A machine joined, left or changed group: it takes runs from its new group's queue at once,
   * wherever its socket is. Announced on `tx` for the other instances; call `machineMoved` after
   * the commit for this one.
   */
  announceMachineMoved(tx: Queryable, machineId: string, groupId: string | null): Promise<void> {
    return this.announce(tx, [{ kind: 'moved', machineId, groupId }]);
  }

  machineMoved(machineId: string, groupId: string | null): void {
    const machine = this.machines.get(machineId);
    if (!machine) return; // its socket is held by another instance (or it is offline)
    this.inOrder(machineId, async () => {
      machine.groupId = groupId;
      if (!machine.busy) await this.offerMachine(machineId);
    });
  }

  queuesReopened(targets: readonly QueueTarget[]): void {
    for (const target of targets) this.runQueued(target);
  }

  /** A run was queued (or put back): offer its queue to the free machines here. */
  runQueued(target: QueueTarget): void {
    this.track(this.offerQueue(target));
  }

  private offerQueue(target: QueueTarget): Promise<void> {
    const key = target.groupId ? `g:${target.groupId}` : `m:${target.machineId}`;
    return this.queues.run(key, async () => {
      const candidates = [...this.machines.values()]
        .filter((m) => !m.busy && (target.groupId ? m.groupId === target.groupId : m.id === target.machineId))
        .sort((a, b) => a.lastAssignedAt - b.lastAssignedAt);
      for (const machine of candidates) {
        if (this.closed) return;
        // Nothing for this machine (its session may not suit the runs waiting): offer the others,
        // unless the queue is empty — then it has nothing for anyone.
        if ((await this.offerMachine(machine.id)) === 'queue-empty') return;
      }
    });
  }

  /** Lets a free machine claim its next run: whether it got one, or found none (and the queue empty). */
  private async offerMachine(machineId: string): Promise<'claimed' | 'none' | 'queue-empty'> {
    let outcome: 'claimed' | 'none' | 'queue-empty' = 'none';
    await this.claims.run(machineId, async () => {
      const machine = this.machines.get(machineId);
      if (!machine || machine.busy || this.closed) return;
      const { config, db } = this.context;
      const { assignment, queueEmpty } = await claimForMachine(db, machineId, machine.capabilities, config.now(), config.runs);
      if (!assignment) {
        if (queueEmpty) outcome = 'queue-empty';
        return;
      }
      machine.busy = true;
      machine.lastAssignedAt = Date.now();
      outcome = 'claimed';
      if (!this.send(machineId, this.assignMessage(assignment))) {
        // The socket closed between the claim and the send: give the run straight back.
        machine.busy = false;
        await this.requeue(assignment.runId, assignment.attempt, machineId, {
          refused: false,
          code: 'MachineDisconnected',
          message: 'The machine went offline as the run was handed to it.',
          forGood: false,
        });
      }
    });
    return outcome;
  }

  private assignMessage(a: Assignment): CloudMessage {
    const { runs } = this.context.config;
    return {
      type: 'assign',
      runId: a.runId,
      attempt: a.attempt,
      flow: { runtime: a.runtime, script: a.script },
      inputs: a.inputs,
      runMode: a.runMode,
      sealedCredentials: { username: a.username, sealedPassword: a.sealedPassword, targetType: a.targetType, targetId: a.targetId },
      timeoutSeconds: runs.maxRunSeconds,
      graceSeconds: runs.stopGraceSeconds,
    };
  }

  /** A machine is free (finished, refused, reconnected, or maintenance ended): let it claim. */
  private machineFree(machineId: string): void {
    const machine = this.machines.get(machineId);
    if (!machine) return;
    machine.busy = false;
    this.track(this.offerMachine(machineId));
  }

  // ── AgentHubListener ─────────────────────────────────────────────────────────────────

  online(machineId: string, hello: HelloMessage): void {
    const capabilities = capabilitiesOf(hello.acceptsUnattended, hello.session);
    this.inOrder(machineId, async () => {
      const { db, config } = this.context;
      await db.query(
        `INSERT INTO agent_sessions (machine_id, accepts_unattended, signed_in_user, session_locked, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (machine_id) DO UPDATE SET accepts_unattended = $2, signed_in_user = $3, session_locked = $4, updated_at = $5`,
        [machineId, hello.acceptsUnattended, hello.session.user, hello.session.locked, config.now()],
      );
      const [row] = await db.query<{ group_id: string | null }>('SELECT group_id FROM machines WHERE id = $1', [machineId]);
      const busy = (await activeRunOf(db, machineId)) !== null;
      const previous = this.machines.get(machineId);
      this.machines.set(machineId, {
        id: machineId,
        groupId: row?.group_id ?? null,
        capabilities,
        busy,
        lastAssignedAt: previous?.lastAssignedAt ?? 0,
      });
      if (!busy) this.track(this.offerMachine(machineId));
    });
  }

  heartbeat(machineId: string, message: HeartbeatMessage): void {
    this.inOrder(machineId, async () => {
      const { db, config } = this.context;
      await extendLeases(db, machineId, message.runningRunIds, config.now(), config.runs);
      const machine = this.machines.get(machineId);
      if (!machine) return;
      if (message.session) {
        const capabilities = capabilitiesOf(machine.capabilities.acceptsUnattended, message.session);
        const was = machine.capabilities.session;
        if (capabilities.session.user !== was.user || capabilities.session.locked !== was.locked) {
          machine.capabilities = capabilities;
          await db.query('UPDATE agent_sessions SET signed_in_user = $2, session_locked = $3, updated_at = $4 WHERE machine_id = $1', [
            machineId,
            message.session.user,
            message.session.locked,
            config.now(),
          ]);
        }
      }
      if (!machine.busy) this.track(this.offerMachine(machineId));
    });
  }

  offline(machineId: string): void {
    this.machines.delete(machineId);
    this.inOrder(machineId, async () => {
      // Not accepted yet means not started: safe to hand to another machine at once.
      const targets = await this.context.db.transaction(async (tx) => {
        const back = await requeueMachineAssignments(tx, machineId, this.context.config.now());
        await this.announce(tx, back.map((target) => ({ kind: 'queued' as const, ...target })));
        return back;
      });
      for (const target of targets) this.runQueued(target);
    });
  }

  report(machineId: string, message: RunReport): void {
    this.inOrder(machineId, () => this.handleReport(machineId, message));
  }

  private async handleReport(machineId: string, message: RunReport): Promise<void> {
    const { db, config } = this.context;
    const now = config.now();
    const { runId, attempt } = message;
    switch (message.type) {
      case 'accepted': {
        const outcome = await acceptRun(db, runId, attempt, machineId, now, config.runs);
        if (outcome === 'ok') this.send(machineId, { type: 'ack', runId, attempt, of: 'accepted' });
        else this.send(machineId, { type: 'cancel', runId, attempt, reason: outcome === 'cancelled' ? 'Cancelled' : 'StaleAttempt' });
        if (outcome === 'stale') await this.resyncBusy(machineId);
        return;
      }
      case 'rejected': {
        const refusesForGood = message.code !== 'Busy' && message.code !== 'Stopping';
        await this.requeue(runId, attempt, machineId, { refused: true, code: message.code, message: message.message, forGood: refusesForGood });
        if (message.code === 'Busy' || message.code === 'Stopping') return; // it will say when it is free
        await this.resyncBusy(machineId);
        return;
      }
      case 'started': {
        const outcome = await startRun(db, runId, attempt, machineId, now, config.runs);
        if (outcome !== 'ok') this.send(machineId, { type: 'cancel', runId, attempt, reason: outcome === 'cancelled' ? 'Cancelled' : 'StaleAttempt' });
        return;
      }
      case 'log': {
        const outcome = await db.transaction((tx) => appendLogs(tx, runId, attempt, machineId, message.lines, now, config.runs));
        if (outcome === 'stale') this.send(machineId, { type: 'cancel', runId, attempt, reason: 'StaleAttempt' });
        return;
      }
      case 'finished': {
        const outcome = await finishRun(db, message, machineId, now);
        // Stale or not, the agent may forget this report: a stale one was refused for good.
        this.send(machineId, { type: 'ack', runId, attempt, of: 'finished' });
        if (outcome === 'stale') return;
        // It ended its run, and a machine holds one run at most: it is free, no need to ask.
        if (outcome === 'ok') this.machineFree(machineId);
        else await this.resyncBusy(machineId);
        return;
      }
    }
  }

  /** Reads whether the machine holds a run; when not, lets it claim the next one. */
  private async resyncBusy(machineId: string): Promise<void> {
    const machine = this.machines.get(machineId);
    if (!machine) return;
    const busy = (await activeRunOf(this.context.db, machineId)) !== null;
    if (busy) machine.busy = true;
    else this.machineFree(machineId);
  }

  // ── cancel and sweep ─────────────────────────────────────────────────────────────────

  /** A run of this machine ended outside its reports (e.g. cancelled before it was accepted). */
  machineMayBeFree(machineId: string): void {
    this.inOrder(machineId, () => this.resyncBusy(machineId));
  }

  /** Tells the machine (when connected here) to stop a run. */
  sendCancel(machineId: string, runId: string, attempt: number, reason: StopReason): void {
    this.send(machineId, { type: 'cancel', runId, attempt, reason });
  }

  /** One maintenance pass; the timer calls it, tests call it after moving the clock. */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        await this.sweepOnce();
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    if (this.closed) return;
    const { db, config } = this.context;
    const now = config.now();
    const result = await sweepRuns(db, now, config.runs, this.leasesJudgedFrom, (tx, events) => this.announce(tx, events));
    for (const ended of result.ended) this.sendCancel(ended.machineId, ended.runId, ended.attempt, ended.reason);
    // Their machines are free again (the refresh below reads it) and the requeued runs are offered below.
    // Refresh what we know about the machines connected here (group moves, busy state).
    const local = [...this.machines.keys()];
    if (local.length > 0) {
      const rows = await db.query<{ id: string; group_id: string | null; busy: boolean }>(
        `SELECT m.id, m.group_id, EXISTS (SELECT 1 FROM runs r WHERE r.machine_id = m.id AND r.status IN ('Assigned', 'Running')) AS busy
           FROM machines m WHERE m.id = ANY ($1::uuid[])`,
        [local],
      );
      for (const row of rows) {
        const machine = this.machines.get(row.id);
        if (!machine) continue;
        machine.groupId = row.group_id;
        machine.busy = row.busy;
      }
      for (const cancel of await pendingCancels(db, local)) this.sendCancel(cancel.machineId, cancel.runId, cancel.attempt, 'Cancelled');
    }
    const work = await queuesWithWork(db);
    await Promise.all([
      ...work.groupIds.map((groupId) => this.offerQueue({ groupId, machineId: null })),
      ...work.machineIds.map((machineId) => this.offerQueue({ groupId: null, machineId })),
    ]);
  }

  /** For tests and the benchmark: the machines this instance is dispatching to. */
  localMachineIds(): string[] {
    return [...this.machines.keys()];
  }

  /** The group a machine connected here takes runs from, as this instance knows it (undefined: not connected here). */
  localMachineGroup(machineId: string): string | null | undefined {
    return this.machines.get(machineId)?.groupId;
  }
}

function capabilitiesOf(acceptsUnattended: boolean, session: HelloMessage['session']): MachineCapabilities {
  return { acceptsUnattended, session: { user: session.user, locked: session.locked } };
}
