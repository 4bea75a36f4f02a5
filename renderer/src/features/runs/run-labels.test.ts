// How runs read on screen: where a run is, how long it ran.
import { describe, expect, it } from 'vitest';
import type { DesktopRun } from '../../../../protocol/desktop-api.ts';
import { formatDuration, isRunFinished, runWhereabouts } from './run-labels.ts';

const run = (patch: Partial<DesktopRun> = {}): DesktopRun => ({
  id: 'r1',
  status: 'Running',
  flow: { id: 'f1', name: 'Close the ledger' },
  runMode: 'Unattended',
  priority: 'Normal',
  target: { type: 'MachineGroup', id: 'g1', name: 'Ledger bots' },
  machine: { id: 'm1', name: 'Ledger PC', isThisMachine: true },
  queuedAt: '2026-01-01T10:00:00.000Z',
  startedAt: '2026-01-01T10:00:01.000Z',
  finishedAt: null,
  waitingReason: null,
  waitingDetail: null,
  error: null,
  cancelRequested: false,
  queuePosition: null,
  movedToTopAt: null,
  allowedActions: ['cancel'],
  ...patch,
});

describe('run labels', () => {
  it('says where a run is: waiting (and why), starting, on a machine, stopping, ran, or never started', () => {
    expect(runWhereabouts(run({ status: 'Queued', machine: null, waitingDetail: 'Every machine is busy.' }))).toBe('Every machine is busy.');
    expect(runWhereabouts(run({ status: 'Assigned' }))).toBe('Starting on Ledger PC (this machine)');
    expect(runWhereabouts(run({ machine: { id: 'm2', name: 'Back office PC', isThisMachine: false } }))).toBe('On Back office PC');
    expect(runWhereabouts(run({ cancelRequested: true }))).toBe('Stopping on Ledger PC…');
    expect(runWhereabouts(run({ status: 'Succeeded' }))).toBe('Ran on Ledger PC (this machine)');
    expect(runWhereabouts(run({ status: 'Cancelled', machine: null, error: { code: 'Cancelled', message: 'Cancelled before it started.' } }))).toBe(
      'Cancelled before it started.',
    );
  });

  it('formats durations in seconds, minutes and hours; nothing before the start', () => {
    expect(formatDuration(null, null)).toBe('—');
    expect(formatDuration('2026-01-01T10:00:00Z', '2026-01-01T10:00:04.4Z')).toBe('4 s');
    expect(formatDuration('2026-01-01T10:00:00Z', '2026-01-01T10:02:05Z')).toBe('2 min 5 s');
    expect(formatDuration('2026-01-01T10:00:00Z', '2026-01-01T11:03:00Z')).toBe('1 h 3 min');
    expect(formatDuration('2026-01-01T10:00:00Z', null, Date.parse('2026-01-01T10:00:30Z'))).toBe('30 s');
  });

  it('knows which states have ended', () => {
    expect(['Queued', 'Assigned', 'Running'].map((status) => isRunFinished({ status } as DesktopRun))).toEqual([false, false, false]);
    expect(['Succeeded', 'Failed', 'Cancelled', 'TimedOut'].map((status) => isRunFinished({ status } as DesktopRun))).toEqual([true, true, true, true]);
  });
});
