/** What the app offers for a group, from the cloud's `allowedActions` and this machine's state. */
import type { DesktopGroup, DesktopState } from '../../../../protocol/desktop-api.ts';

export const ACCESS_LABEL = { Owner: 'Owner', CoOwner: 'Co-owner', User: 'User' } as const;

export function accessLabel(group: DesktopGroup): string {
  return group.access ? ACCESS_LABEL[group.access] : 'Admin';
}

export interface GroupOffers {
  isCurrent: boolean;
  /** This machine may be added (registered, not in this group, the user may add machines). */
  join: boolean;
  leave: boolean;
  /** On a member machine, for those who may add machines (co-owners and owner). */
  editPassword: boolean;
  manageAccess: boolean;
  editDetails: boolean;
  /** Shown for those allowed to delete; `deleteBlockedReason` says why it is disabled. */
  delete: boolean;
  deleteBlockedReason: string | null;
  removeMachines: boolean;
}

export function groupOffers(group: DesktopGroup, state: Pick<DesktopState, 'machine' | 'group'>): GroupOffers {
  const allowed = new Set(group.allowedActions);
  const isCurrent = state.group?.id === group.id;
  return {
    isCurrent,
    join: Boolean(state.machine) && !isCurrent && allowed.has('addMachines'),
    leave: isCurrent,
    editPassword: isCurrent && allowed.has('addMachines'),
    manageAccess: allowed.has('share'),
    editDetails: allowed.has('editDetails'),
    delete: allowed.has('delete'),
    deleteBlockedReason:
      group.machineCount > 0
        ? `Remove its ${group.machineCount === 1 ? 'machine' : `${group.machineCount} machines`} first`
        : null,
    removeMachines: allowed.has('removeMachines'),
  };
}
