/** How runs read on screen: status names and colours, times, queue places and queue events. */
import type { DesktopRun, DesktopRunEvent, RunStatus } from '../../../../protocol/desktop-api.ts';
import { formatTime } from '../../app/format.ts';

export const RUN_STATUS_LABEL: Record<RunStatus, { text: string; color: 'brand' | 'informative' | 'success' | 'danger' | 'warning' | 'subtle' }> = {
  Queued: { text: 'Queued', color: 'informative' },
  Assigned: { text: 'Starting', color: 'brand' },
  Running: { text: 'Running', color: 'brand' },
  Succeeded: { text: 'Succeeded', color: 'success' },
  Failed: { text: 'Failed', color: 'danger' },
  Cancelled: { text: 'Cancelled', color: 'warning' },
  TimedOut: { text: 'Timed out', color: 'danger' },
};

export function isRunFinished(run: Pick<DesktopRun, 'status'>): boolean {
  return run.status === 'Succeeded' || run.status === 'Failed' || run.status === 'Cancelled' || run.status === 'TimedOut';
}

/** A time of today as its clock time, an older one with its date. */
export function formatRunTime(iso: string | null): string {
  return formatTime(iso, { empty: '—', todayAsTime: true });
}

/** "4 s", "2 min 5 s", "1 h 3 min". */
export function formatDuration(fromIso: string | null, toIso: string | null, now = Date.now()): string {
  if (!fromIso) return '—';
  const ms = (toIso ? Date.parse(toIso) : now) - Date.parse(fromIso);
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** What the run's row says about where it is. */
export function runWhereabouts(run: DesktopRun): string {
  if (run.status === 'Queued') return run.waitingDetail ?? 'Waiting for a free machine.';
  if (run.cancelRequested) return `Stopping on ${run.machine?.name ?? 'its machine'}…`;
  if (run.machine) return `${run.status === 'Assigned' ? 'Starting on' : isRunFinished(run) ? 'Ran on' : 'On'} ${run.machine.name}${run.machine.isThisMachine ? ' (this machine)' : ''}`;
  return run.error?.message ?? 'Did not reach a machine.';
}

/** "1st", "2nd", "3rd", "4th", "11th", "22nd". */
export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

/** Where a queued run stands: "Next to run", "2nd in the queue"; nothing once it left the queue. */
export function queuePlace(run: Pick<DesktopRun, 'queuePosition'>): string | null {
  if (run.queuePosition === null) return null;
  return run.queuePosition === 1 ? 'Next to run' : `${ordinal(run.queuePosition)} in the queue`;
}

const machineName = (event: DesktopRunEvent) => event.machine?.name ?? 'a removed machine';
const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const actorName = (event: DesktopRunEvent) => event.actor?.displayName ?? 'someone';
const withCode = (event: DesktopRunEvent) =>
  event.code ? `${event.code}${event.message ? ` \u2014 ${event.message}` : ''}` : (event.message ?? '');

/**
 * One queue event as a sentence: "Queued by Alice (Normal)", "Starting on VM-7 (attempt 1)",
 * "VM-3 refused: CredentialsUnavailable — …", "Priority changed to High by Bob", "Moved to top
 * by Carol", "Finished: Succeeded".
 */
export function queueEventText(event: DesktopRunEvent): string {
  switch (event.kind) {
    case 'Queued':
      return `Queued by ${actorName(event)}${event.priority ? ` (${event.priority})` : ''}`;
    case 'Assigned':
      return `Starting on ${machineName(event)}${event.attempt !== null ? ` (attempt ${event.attempt})` : ''}`;
    case 'Refused':
      return `${capitalized(machineName(event))} refused${withCode(event) ? `: ${withCode(event)}` : ''}`;
    case 'Requeued':
      return `Back in the queue: ${machineName(event)} did not take it${event.code ? ` (${event.code})` : ''}`;
    case 'Started':
      return `Started on ${machineName(event)}`;
    case 'PriorityChanged':
      return `Priority changed to ${event.priority ?? 'Normal'} by ${actorName(event)}`;
    case 'MovedToTop':
      return `Moved to top by ${actorName(event)}`;
    case 'CancelRequested':
      return `Cancel requested by ${actorName(event)}`;
    case 'Finished': {
      const status = event.status ? RUN_STATUS_LABEL[event.status].text : 'Ended';
      // A cancelled run's code says only "Cancelled" again; other endings say why.
      const why = event.status === 'Succeeded' || event.code === 'Cancelled' ? '' : withCode(event);
      return `Finished: ${status}${why ? ` \u2014 ${why}` : ''}`;
    }
  }
}
