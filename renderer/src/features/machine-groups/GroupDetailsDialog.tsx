/**
 * A group's details: what it is, who owns it, its maintenance mode (switched by co-owners), and
 * two tabs: its machines with their status, and its run queue.
 */
import { useCallback, useEffect, useState } from 'react';
import {
  Badge,
  Body1,
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  MessageBar,
  MessageBarBody,
  Spinner,
  Subtitle2,
  Tab,
  TabList,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import type { DesktopGroup, DesktopGroupMachine, DesktopState, MachineStatus } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { describeError } from '../../api/error-messages.ts';
import { useAction } from '../../app/use-action.ts';
import { useGroupsStore } from '../../stores/groups-store.ts';
import { formatTime } from '../../app/format.ts';
import { GroupRunQueue } from '../runs/GroupRunQueue.tsx';
import { MaintenanceSwitch } from '../runs/MaintenanceSwitch.tsx';
import { accessLabel, groupOffers } from './group-rules.ts';
import type { GroupCommand } from './GroupList.tsx';

const useStyles = makeStyles({
  surface: { maxWidth: '880px', width: '100%' },
  panel: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, minHeight: '160px' },
  content: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  facts: { display: 'grid', gridTemplateColumns: 'max-content 1fr', columnGap: tokens.spacingHorizontalXXL, rowGap: tokens.spacingVerticalXS, margin: 0 },
  term: { color: tokens.colorNeutralForeground2 },
  value: { margin: 0 },
});

const STATUS_COLOR: Record<MachineStatus, 'success' | 'danger' | 'warning' | 'informative'> = {
  Online: 'success',
  Busy: 'warning',
  Offline: 'danger',
  Maintenance: 'informative',
};

export function GroupDetailsDialog({
  group,
  state,
  onClose,
  onCommand,
}: {
  group: DesktopGroup;
  state: DesktopState;
  onClose: () => void;
  onCommand: (command: GroupCommand, group: DesktopGroup) => void;
}) {
  const styles = useStyles();
  const offers = groupOffers(group, state);
  const reloadGroups = useGroupsStore((s) => s.load);
  const [machines, setMachines] = useState<DesktopGroupMachine[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [tab, setTab] = useState<'machines' | 'queue'>('machines');
  const action = useAction();
  const maintenanceAction = useAction();
  const upsertGroup = useGroupsStore((s) => s.upsert);

  const load = useCallback(async () => {
    try {
      setMachines(await getRuntime().listGroupMachines({ groupId: group.id }));
      setLoadError(null);
    } catch (error) {
      setLoadError(describeError(error));
    }
  }, [group.id]);

  useEffect(() => {
    void load();
  }, [load]);

  const removeMachine = async (machine: DesktopGroupMachine) => {
    const outcome = await action.run(() => getRuntime().removeGroupMachine({ groupId: group.id, machineId: machine.id }), {
      success: `${machine.name} was removed from ${group.name}`,
      failure: 'Could not remove the machine',
    });
    if (outcome.ok) {
      void load();
      void reloadGroups();
    }
  };

  const switchMaintenance = async (maintenance: boolean): Promise<boolean> => {
    const outcome = await maintenanceAction.run(() => getRuntime().setGroupMaintenance({ groupId: group.id, maintenance }), {
      success: maintenance ? `Maintenance mode is on for ${group.name}` : `Maintenance mode is off for ${group.name}`,
      failure: 'Could not switch maintenance mode',
      toastOnFailure: !maintenance,
    });
    if (!outcome.ok) return false;
    upsertGroup(outcome.result);
    void load(); // the machines' status follows
    return true;
  };

  const then = (command: GroupCommand) => () => {
    onClose();
    onCommand(command, group);
  };

  return (
    <Dialog open modalType="modal" onOpenChange={(_e, data) => !data.open && onClose()}>
      <DialogSurface className={styles.surface}>
        <DialogBody>
          <DialogTitle>{group.name}</DialogTitle>
          <DialogContent className={styles.content}>
            {group.description && <Body1>{group.description}</Body1>}
            <dl className={styles.facts}>
              <dt className={styles.term}>Owner</dt>
              <dd className={styles.value}>{group.owner.displayName}</dd>
              <dt className={styles.term}>Your access</dt>
              <dd className={styles.value}>{accessLabel(group)}</dd>
              <dt className={styles.term}>Flows running</dt>
              <dd className={styles.value}>{group.runningCount}</dd>
              <dt className={styles.term}>Flows queued</dt>
              <dd className={styles.value}>{group.queuedCount}</dd>
              <dt className={styles.term}>Group password</dt>
              <dd className={styles.value}>{group.hasPassword ? 'Set' : 'Not set yet (the first machine sets it)'}</dd>
              {!offers.editDetails && (
                <>
                  <dt className={styles.term}>Maintenance mode</dt>
                  <dd className={styles.value}>{group.maintenance ? 'On: no new runs start on its machines' : 'Off'}</dd>
                </>
              )}
            </dl>
            {offers.editDetails && (
              <MaintenanceSwitch
                subject="group"
                name={group.name}
                maintenance={group.maintenance}
                busy={maintenanceAction.busy}
                failure={maintenanceAction.failure}
                onSwitch={switchMaintenance}
              />
            )}
            <TabList selectedValue={tab} onTabSelect={(_e, data) => setTab(data.value as 'machines' | 'queue')} aria-label={`${group.name} details`}>
              <Tab value="machines" id="group-tab-machines" aria-controls="group-panel">
                Machines ({machines?.length ?? group.machineCount})
              </Tab>
              <Tab value="queue" id="group-tab-queue" aria-controls="group-panel">
                Run queue
              </Tab>
            </TabList>
            <div role="tabpanel" id="group-panel" aria-labelledby={tab === 'machines' ? 'group-tab-machines' : 'group-tab-queue'} className={styles.panel}>
              {tab === 'queue' && <GroupRunQueue group={group} onChanged={() => void reloadGroups()} />}
              {tab === 'machines' && (
                <>
                  <Subtitle2 as="h3" className="visually-hidden">
                    Machines
                  </Subtitle2>
                  {loadError && (
                    <MessageBar intent="error" role="alert">
                      <MessageBarBody>{loadError}</MessageBarBody>
                    </MessageBar>
                  )}
                  {!machines && !loadError && <Spinner size="small" label="Loading machines…" />}
                  {machines && machines.length === 0 && <Body1>No machine is in this group yet.</Body1>}
                  {machines && machines.length > 0 && (
                    <Table aria-label={`Machines in ${group.name}`} size="small">
                      <TableHeader>
                        <TableRow>
                          <TableHeaderCell>Machine</TableHeaderCell>
                          <TableHeaderCell>Status</TableHeaderCell>
                          <TableHeaderCell>Last seen</TableHeaderCell>
                          <TableHeaderCell>Owner</TableHeaderCell>
                          <TableHeaderCell>
                            <span className="visually-hidden">Actions</span>
                          </TableHeaderCell>
                        </TableRow>
                      </TableHeader>
                      <TableBody>
                        {machines.map((machine) => (
                          <TableRow key={machine.id}>
                            <TableCell>
                              {machine.name}
                              {machine.isThisMachine && ' (this machine)'}
                            </TableCell>
                            <TableCell>
                              <Badge appearance="tint" color={STATUS_COLOR[machine.status]}>
                                {machine.status}
                              </Badge>
                            </TableCell>
                            <TableCell>{formatTime(machine.lastSeenAt)}</TableCell>
                            <TableCell>{machine.owner.displayName}</TableCell>
                            <TableCell>
                              {offers.removeMachines && !machine.isThisMachine && (
                                <Button size="small" appearance="subtle" disabledFocusable={action.busy} aria-label={`Remove ${machine.name} from the group`} onClick={() => void removeMachine(machine)}>
                                  Remove
                                </Button>
                              )}
                            </TableCell>
                          </TableRow>
                        ))}
                      </TableBody>
                    </Table>
                  )}
                </>
              )}
            </div>
          </DialogContent>
          <DialogActions>
            {offers.join && (
              <Button appearance="primary" onClick={then('join')}>
                {state.group ? 'Move this machine here' : 'Add this machine'}
              </Button>
            )}
            {offers.leave && <Button onClick={then('leave')}>Leave group</Button>}
            <Button appearance="secondary" onClick={onClose}>
              Close
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
