// How runs read on screen: where a run is, how long it ran.
import { describe, expect, it } from 'vitest';
import type { DesktopRun, DesktopRunEvent } from '../../../../protocol/desktop-api.ts';
import { formatDuration, isRunFinished, ordinal, queueEventText, queuePlace, runWhereabouts } from './run-labels.ts';

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

  it('says where a queued run stands: next to run, or its place', () => {
    expect(queuePlace(run({ status: 'Queued', queuePosition: 1 }))).toBe('Next to run');
    expect(queuePlace(run({ status: 'Queued', queuePosition: 2 }))).toBe('2nd in the queue');
    expect(queuePlace(run({ status: 'Queued', queuePosition: 13 }))).toBe('13th in the queue');
    expect(queuePlace(run({ queuePosition: null }))).toBeNull();
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111].map(ordinal)).toEqual([
      '1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '101st', '111th',
    ]);
  });

  it('tells each queue event in a sentence, with who and which machine', () => {
    const event = (patch: Partial<DesktopRunEvent>): DesktopRunEvent => ({
      at: '2026-01-01T10:00:00.000Z',
      kind: 'Queued',
      machine: null,
      attempt: null,
      actor: null,
      priority: null,
      status: null,
      code: null,
      message: null,
      ...patch,
    });
    const alice = { id: 'u1', displayName: 'Alice' };
    const vm7 = { id: 'm7', name: 'VM-7' };
    expect(queueEventText(event({ kind: 'Queued', actor: alice, priority: 'Normal' }))).toBe('Queued by Alice (Normal)');
    expect(queueEventText(event({ kind: 'Assigned', machine: vm7, attempt: 1 }))).toBe('Starting on VM-7 (attempt 1)');
    expect(queueEventText(event({ kind: 'Refused', machine: { id: 'm3', name: 'VM-3' }, code: 'CredentialsUnavailable', message: 'cannot open the credentials' }))).toBe(
      'VM-3 refused: CredentialsUnavailable \u2014 cannot open the credentials',
    );
    expect(queueEventText(event({ kind: 'Requeued', machine: vm7, code: 'MachineDisconnected' }))).toBe('Back in the queue: VM-7 did not take it (MachineDisconnected)');
    expect(queueEventText(event({ kind: 'Started', machine: vm7, attempt: 1 }))).toBe('Started on VM-7');
    expect(queueEventText(event({ kind: 'PriorityChanged', actor: { id: 'u2', displayName: 'Bob' }, priority: 'High' }))).toBe('Priority changed to High by Bob');
    expect(queueEventText(event({ kind: 'MovedToTop', actor: { id: 'u3', displayName: 'Carol' } }))).toBe('Moved to top by Carol');
    expect(queueEventText(event({ kind: 'CancelRequested', actor: alice }))).toBe('Cancel requested by Alice');
    expect(queueEventText(event({ kind: 'Finished', status: 'Succeeded', machine: vm7 }))).toBe('Finished: Succeeded');
    expect(queueEventText(event({ kind: 'Finished', status: 'Cancelled', code: 'Cancelled', message: 'Cancelled by Alice.' }))).toBe('Finished: Cancelled');
    expect(queueEventText(event({ kind: 'Finished', status: 'Failed', code: 'QueueTimeout', message: 'No machine could take it in 3 h.' }))).toBe(
      'Finished: Failed \u2014 QueueTimeout \u2014 No machine could take it in 3 h.',
    );
    expect(queueEventText(event({ kind: 'Finished', status: 'TimedOut', code: 'RunTimeout' }))).toBe('Finished: Timed out \u2014 RunTimeout');
    // A machine or person deleted since: still a sentence.
    expect(queueEventText(event({ kind: 'Started', machine: { id: 'm9', name: null } }))).toBe('Started on a removed machine');
    expect(queueEventText(event({ kind: 'Refused', machine: { id: 'm9', name: null }, code: 'SpawnFailed' }))).toBe('A removed machine refused: SpawnFailed');
    expect(queueEventText(event({ kind: 'MovedToTop', actor: { id: 'u9', displayName: null } }))).toBe('Moved to top by someone');
  });
});
