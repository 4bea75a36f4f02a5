// What the groups screen offers follows the cloud's allowedActions and this machine's state.
import { describe, expect, it } from 'vitest';
import type { DesktopGroup, DesktopState } from '../../../../protocol/desktop-api.ts';
import { filterGroups } from '../../stores/groups-store.ts';
import { accessLabel, groupOffers } from './group-rules.ts';

const ALL = ['run', 'share', 'addMachines', 'removeMachines', 'editDetails', 'delete'] as const;
const group = (patch: Partial<DesktopGroup> = {}): DesktopGroup => ({
  id: 'g1',
  name: 'Finance bots',
  description: 'Month-end close',
  machineCount: 0,
  runningCount: 0,
  queuedCount: 0,
  access: 'CoOwner',
  owner: { id: 'u1', displayName: 'Ann Owner' },
  hasPassword: true,
  maintenance: false,
  allowedActions: [...ALL],
  ...patch,
});
const machine = { id: 'm1', name: 'PC', description: '', environmentId: 'e1', environmentName: 'Default' };
const state = (patch: Partial<Pick<DesktopState, 'machine' | 'group'>> = {}) => ({ machine, group: null, ...patch });

describe('group offers', () => {
  it('offers a User only what running allows: no join, share, edit, password or delete', () => {
    const offers = groupOffers(group({ access: 'User', allowedActions: ['run'] }), state({ group: { id: 'g1', name: 'Finance bots' } }));
    expect(offers).toMatchObject({ join: false, manageAccess: false, editDetails: false, editPassword: false, delete: false, removeMachines: false });
    expect(offers.leave).toBe(true); // a member machine may always leave
  });

  it('offers a co-owner everything, the password edit only on a member machine', () => {
    expect(groupOffers(group(), state())).toMatchObject({ join: true, editPassword: false, manageAccess: true, editDetails: true, delete: true, isCurrent: false });
    expect(groupOffers(group(), state({ group: { id: 'g1', name: 'Finance bots' } }))).toMatchObject({ join: false, leave: true, editPassword: true, isCurrent: true });
  });

  it('does not offer joining to an unregistered machine', () => {
    expect(groupOffers(group(), state({ machine: null })).join).toBe(false);
  });

  it('keeps Delete visible but blocked, with the reason, while the group has machines', () => {
    expect(groupOffers(group({ machineCount: 0 }), state()).deleteBlockedReason).toBeNull();
    expect(groupOffers(group({ machineCount: 1 }), state()).deleteBlockedReason).toBe('Remove its machine first');
    expect(groupOffers(group({ machineCount: 3 }), state()).deleteBlockedReason).toBe('Remove its 3 machines first');
  });

  it('labels access levels for people', () => {
    expect(accessLabel(group({ access: 'CoOwner' }))).toBe('Co-owner');
    expect(accessLabel(group({ access: null }))).toBe('Admin');
  });
});

describe('group search', () => {
  const groups = [
    group({ id: '1', name: 'Finance bots', description: 'Month-end close' }),
    group({ id: '2', name: 'Build agents', description: 'CI', owner: { id: 'u2', displayName: 'Bob Builder' } }),
    group({ id: '3', name: 'Payroll', description: 'finance payroll runs' }),
  ];
  it('matches every word against name, description and owner, ignoring case', () => {
    expect(filterGroups(groups, '').map((g) => g.id)).toEqual(['1', '2', '3']);
    expect(filterGroups(groups, 'FINANCE').map((g) => g.id)).toEqual(['1', '3']);
    expect(filterGroups(groups, 'finance payroll').map((g) => g.id)).toEqual(['3']);
    expect(filterGroups(groups, 'bob').map((g) => g.id)).toEqual(['2']);
    expect(filterGroups(groups, 'nothing like this')).toEqual([]);
  });
});
