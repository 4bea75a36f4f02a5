/** How runs read on screen: status names and colours, and times. */
import type { DesktopRun, RunStatus } from '../../../../protocol/desktop-api.ts';
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
