/** Why a queued run is still waiting (protocol/api/runs.ts, WAITING_REASONS), from the state of its target's machines. */
import type { Queryable } from '../db/database.ts';
import type { RunLimits } from '../config.ts';
import type { WaitingReason } from '../../../protocol/cloud-api.ts';

export interface QueuedRunFacts {
  group_id: string | null;
  target_machine_id: string | null;
  run_mode: 'Attended' | 'Unattended';
  queued_at: Date;
  rejected_by: string[];
  /** The connection's user as one account name (migration 007, account_name). */
  run_as_account: string;
}

type MachineFacts = {
  id: string;
  status: string;
  maintenance: boolean;
  accepts_unattended: boolean | null;
  /** Who is signed in, as one account name (account_name), or null. */
  session_account: string | null;
  session_locked: boolean | null;
  busy: boolean;
};

const DETAIL: Record<WaitingReason, string> = {
  NoMachineOnline: 'No machine of the target is online.',
  AllMachinesBusy: 'Every machine that can take this run is busy; it starts when one is free.',
  Maintenance: 'The target is in maintenance: no new runs start until maintenance ends.',
  NeedsAttendedSession: "An attended run needs the connection's user signed in, with an unlocked session, on a machine of the target.",
  NeedsUnattendedMachine: 'No online machine accepts unattended runs.',
  RunUserSignedIn:
    "The connection's user is signed in on every online machine that accepts unattended runs; an unattended run needs a machine without a session of that user.",
  RejectedByMachines: 'The online machines refused this run (for example, they cannot open its credentials).',
  QueueTimeoutNear: 'The run has almost reached the queue time limit and will fail with QueueTimeout.',
  Dispatching: 'A machine is free; the run is being handed over.',
};

/** The state of a target's machines, the same for every run queued on it: loaded once per target. */
export interface TargetMachines {
  groupMaintenance: boolean;
  machines: MachineFacts[];
}

export async function loadTargetMachines(db: Queryable, target: { group_id: string | null; target_machine_id: string | null }): Promise<TargetMachines> {
  let groupMaintenance = false;
  if (target.group_id) {
    const [group] = await db.query<{ maintenance: boolean }>('SELECT maintenance FROM machine_groups WHERE id = $1', [target.group_id]);
    groupMaintenance = group?.maintenance ?? false;
  }
  const machines = await db.query<MachineFacts>(
    `SELECT m.id, m.status, m.maintenance, s.accepts_unattended, account_name(s.signed_in_user) AS session_account, s.session_locked,
            EXISTS (SELECT 1 FROM runs r WHERE r.machine_id = m.id AND r.status IN ('Assigned', 'Running')) AS busy
       FROM machines m LEFT JOIN agent_sessions s ON s.machine_id = m.id
      WHERE ($1::uuid IS NOT NULL AND m.group_id = $1) OR m.id = $2`,
    [target.group_id, target.target_machine_id],
  );
  return { groupMaintenance, machines };
}

export function waitingReason(
  run: QueuedRunFacts,
  target: TargetMachines,
  now: Date,
  limits: RunLimits,
): { reason: WaitingReason; detail: string } {
  const pick = (reason: WaitingReason) => ({ reason, detail: DETAIL[reason] });
  const left = run.queued_at.getTime() + limits.maxQueueSeconds * 1000 - now.getTime();
  if (left < limits.queueTimeoutWarningSeconds * 1000) return pick('QueueTimeoutNear');
  if (target.groupMaintenance) return pick('Maintenance');
  const online = target.machines.filter((m) => m.status === 'Online');
  if (online.length === 0) return pick('NoMachineOnline');
  const available = online.filter((m) => !m.maintenance);
  if (available.length === 0) return pick('Maintenance');
  // The rule the dispatcher's claim applies (queue.ts, SESSION_SUITS_RUN), told apart for the reason.
  let capable: MachineFacts[];
  if (run.run_mode === 'Attended') {
    capable = available.filter((m) => m.session_account === run.run_as_account && m.session_locked === false);
    if (capable.length === 0) return pick('NeedsAttendedSession');
  } else {
    const unattended = available.filter((m) => m.accepts_unattended === true);
    if (unattended.length === 0) return pick('NeedsUnattendedMachine');
    capable = unattended.filter((m) => m.session_account !== run.run_as_account);
    if (capable.length === 0) return pick('RunUserSignedIn');
  }
  const willing = capable.filter((m) => !run.rejected_by.includes(m.id));
  if (willing.length === 0) return pick('RejectedByMachines');
  if (willing.every((m) => m.busy)) return pick('AllMachinesBusy');
  return pick('Dispatching');
}
