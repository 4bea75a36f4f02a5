/**
 * Machine groups: the groups the user can see (name, description, machines, flows running and
 * queued, access, owner), search as you type, the current group marked with Leave group, and
 * every group action the user's access allows.
 */
import { useDeferredValue, useEffect, useMemo, useState } from 'react';
import {
  Button,
  MessageBar,
  MessageBarActions,
  MessageBarBody,
  SearchBox,
  Spinner,
  Text,
  makeStyles,
  tokens,
  useRestoreFocusTarget,
} from '@fluentui/react-components';
import { AddRegular, ArrowClockwiseRegular } from '@fluentui/react-icons';
import type { DesktopGroup, DesktopState } from '../../../../protocol/desktop-api.ts';
import { PageHeader } from '../../app/layout.tsx';
import { useAppStore } from '../../stores/app-store.ts';
import { filterGroups, useGroupsStore } from '../../stores/groups-store.ts';
import {
  CreateGroupDialog,
  DeleteGroupDialog,
  EditGroupDialog,
  EditGroupPasswordDialog,
  JoinGroupDialog,
  LeaveGroupDialog,
} from './GroupDialogs.tsx';
import { GroupDetailsDialog } from './GroupDetailsDialog.tsx';
import { GroupList, type GroupCommand } from './GroupList.tsx';
import { ManageAccessDialog } from './ManageAccessDialog.tsx';

const useStyles = makeStyles({
  screen: { display: 'flex', flexDirection: 'column', height: '100%', minHeight: '420px', gap: tokens.spacingVerticalM },
  toolbar: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalM, flexWrap: 'wrap', paddingInline: 0 },
  search: { width: '320px', maxWidth: '100%' },
  count: { marginLeft: 'auto', color: tokens.colorNeutralForeground2 },
  list: { display: 'flex', flexDirection: 'column', flexGrow: 1, minHeight: '240px', overflowX: 'auto' },
});

export function MachineGroupsScreen({ state }: { state: DesktopState }) {
  const styles = useStyles();
  const { groups, status, error, query, setQuery, load } = useGroupsStore();
  const setPage = useAppStore((s) => s.setPage);
  const deferredQuery = useDeferredValue(query);
  const shown = useMemo(() => filterGroups(groups, deferredQuery), [groups, deferredQuery]);
  const [creating, setCreating] = useState(false);
  const [dialog, setDialog] = useState<{ command: GroupCommand; group: DesktopGroup } | null>(null);
  const restoreFocusTarget = useRestoreFocusTarget();

  useEffect(() => {
    void load();
  }, [load]);

  // Dialogs act on the latest copy of the group (counts and access change underneath).
  const dialogGroup = dialog ? (groups.find((g) => g.id === dialog.group.id) ?? dialog.group) : null;
  const close = () => setDialog(null);
  const onCommand = (command: GroupCommand, group: DesktopGroup) => setDialog({ command, group });

  return (
    <section className={styles.screen} aria-labelledby="page-title">
      <PageHeader
        title="Machine groups"
        subtitle={
          state.group
            ? `This machine is in ${state.group.name}.`
            : state.machine
              ? 'This machine is not in a group. Join one to share the workload of its flows.'
              : 'Machine groups organise machines so that desktop flows run on whichever is free.'
        }
      />
      {!state.machine && (
        <MessageBar intent="info">
          <MessageBarBody>Register this machine to add it to a group.</MessageBarBody>
          <MessageBarActions>
            <Button onClick={() => setPage('machine-settings')}>Go to Machine settings</Button>
          </MessageBarActions>
        </MessageBar>
      )}
      <div className={styles.toolbar}>
        {state.user?.mayCreateGroup && (
          <Button appearance="primary" icon={<AddRegular />} onClick={() => setCreating(true)} {...restoreFocusTarget}>
            Create a new group
          </Button>
        )}
        <SearchBox
          className={styles.search}
          aria-label="Search groups"
          placeholder="Search groups"
          value={query}
          onChange={(_e, data) => setQuery(data.value)}
        />
        <Button icon={<ArrowClockwiseRegular />} appearance="subtle" onClick={() => void load()} disabled={status === 'loading'}>
          Refresh
        </Button>
        <Text className={styles.count} role="status">
          {status === 'ready' && (query ? `${shown.length} of ${groups.length} groups` : `${groups.length} ${groups.length === 1 ? 'group' : 'groups'}`)}
        </Text>
      </div>
      {error && (
        <MessageBar intent="error" role="alert">
          <MessageBarBody>The groups could not be loaded. {error}</MessageBarBody>
          <MessageBarActions>
            <Button onClick={() => void load()}>Try again</Button>
          </MessageBarActions>
        </MessageBar>
      )}
      <div className={styles.list}>
        {status === 'loading' ? (
          <Spinner label="Loading machine groups…" />
        ) : (
          <GroupList
            groups={shown}
            state={state}
            onCommand={onCommand}
            emptyMessage={
              groups.length === 0
                ? 'No machine groups yet. Create a new group to organise your machines.'
                : `No group matches “${deferredQuery}”.`
            }
          />
        )}
      </div>

      <CreateGroupDialog open={creating} onClose={() => setCreating(false)} />
      {dialog && dialogGroup && dialog.command === 'details' && (
        <GroupDetailsDialog group={dialogGroup} state={state} onClose={close} onCommand={onCommand} />
      )}
      {dialog && dialogGroup && dialog.command === 'join' && <JoinGroupDialog group={dialogGroup} state={state} onClose={close} />}
      {dialog && dialogGroup && dialog.command === 'leave' && <LeaveGroupDialog group={dialogGroup} onClose={close} />}
      {dialog && dialogGroup && dialog.command === 'password' && <EditGroupPasswordDialog group={dialogGroup} onClose={close} />}
      {dialog && dialogGroup && dialog.command === 'access' && <ManageAccessDialog group={dialogGroup} onClose={close} />}
      {dialog && dialogGroup && dialog.command === 'edit' && <EditGroupDialog group={dialogGroup} onClose={close} />}
      {dialog && dialogGroup && dialog.command === 'delete' && <DeleteGroupDialog group={dialogGroup} onClose={close} />}
    </section>
  );
}
