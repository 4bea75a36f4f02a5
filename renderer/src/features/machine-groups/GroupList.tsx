/**
 * The groups as a table whose rows are windowed: only the rows in view (plus a few) are in the
 * DOM, over a fixed row height, so 5,000 groups scroll and filter smoothly. ARIA row counts and
 * indexes tell assistive technology the full size.
 */
import { useLayoutEffect, useRef, useState } from 'react';
import {
  Button,
  Menu,
  MenuItem,
  MenuList,
  MenuPopover,
  MenuTrigger,
  Table,
  TableBody,
  TableCell,
  TableCellLayout,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Tooltip,
  makeStyles,
  mergeClasses,
  tokens,
  useRestoreFocusTarget,
} from '@fluentui/react-components';
import {
  DeleteRegular,
  DoorArrowLeftRegular,
  EditRegular,
  InfoRegular,
  KeyRegular,
  MoreHorizontalRegular,
  PeopleTeamRegular,
} from '@fluentui/react-icons';
import type { DesktopGroup, DesktopState } from '../../../../protocol/desktop-api.ts';
import { accessLabel, groupOffers } from './group-rules.ts';

export const ROW_HEIGHT = 44;
const OVERSCAN = 6;

export type GroupCommand = 'details' | 'join' | 'leave' | 'password' | 'access' | 'edit' | 'delete';

const useStyles = makeStyles({
  table: { display: 'flex', flexDirection: 'column', flexGrow: 1, minHeight: 0, minWidth: '880px' },
  header: { flexShrink: 0 },
  body: { position: 'relative', flexGrow: 1, minHeight: 0, overflowY: 'auto', overflowX: 'hidden' },
  spacer: { position: 'relative', width: '100%' },
  row: { position: 'absolute', left: 0, right: 0, height: `${ROW_HEIGHT}px`, boxSizing: 'border-box' },
  current: { backgroundColor: tokens.colorBrandBackground2 },
  name: { flex: '2 1 0', minWidth: 0 },
  description: { flex: '2 1 0', minWidth: 0 },
  number: { flex: '0 0 68px', justifyContent: 'flex-end', textAlign: 'end', paddingRight: tokens.spacingHorizontalL },
  access: { flex: '0 0 84px' },
  owner: { flex: '1.2 1 0', minWidth: 0 },
  actions: { flex: '0 0 148px', justifyContent: 'flex-end', gap: tokens.spacingHorizontalXS },
  ellipsis: { whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' },
  nameButton: { minWidth: 0, maxWidth: '100%', minHeight: 0, justifyContent: 'flex-start', padding: 0, fontWeight: tokens.fontWeightSemibold },
  nameText: { whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' },
  currentLabel: { color: tokens.colorBrandForeground1, fontWeight: tokens.fontWeightSemibold, lineHeight: tokens.lineHeightBase100 },
  empty: { padding: tokens.spacingVerticalXXL, color: tokens.colorNeutralForeground2, textAlign: 'center' },
});

function useWindow(count: number) {
  const bodyRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const body = bodyRef.current;
    if (!body) return;
    setHeight(body.clientHeight || 600);
    const observer = new ResizeObserver(() => setHeight(body.clientHeight || 600));
    observer.observe(body);
    return () => observer.disconnect();
  }, []);

  // A shorter list (after filtering) must not leave the view scrolled past its end.
  useLayoutEffect(() => {
    const body = bodyRef.current;
    if (body && body.scrollTop > Math.max(0, count * ROW_HEIGHT - body.clientHeight)) {
      body.scrollTop = Math.max(0, count * ROW_HEIGHT - body.clientHeight);
      setScrollTop(body.scrollTop);
    }
  }, [count]);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  return { bodyRef, first, last, onScroll: () => setScrollTop(bodyRef.current?.scrollTop ?? 0) };
}

function GroupMenu({ group, state, onCommand }: { group: DesktopGroup; state: DesktopState; onCommand: (c: GroupCommand, g: DesktopGroup) => void }) {
  const offers = groupOffers(group, state);
  // The dialogs a menu item opens give the focus back to this button when they close.
  const restoreFocusTarget = useRestoreFocusTarget();
  return (
    <Menu positioning="below-end">
      <MenuTrigger disableButtonEnhancement>
        <Button appearance="subtle" icon={<MoreHorizontalRegular />} aria-label={`More actions for ${group.name}`} {...restoreFocusTarget} />
      </MenuTrigger>
      <MenuPopover>
        <MenuList>
          <MenuItem icon={<InfoRegular />} onClick={() => onCommand('details', group)}>
            View details
          </MenuItem>
          {offers.editPassword && (
            <MenuItem icon={<KeyRegular />} onClick={() => onCommand('password', group)}>
              Edit group password
            </MenuItem>
          )}
          {offers.manageAccess && (
            <MenuItem icon={<PeopleTeamRegular />} onClick={() => onCommand('access', group)}>
              Manage access
            </MenuItem>
          )}
          {offers.editDetails && (
            <MenuItem icon={<EditRegular />} onClick={() => onCommand('edit', group)}>
              Edit details
            </MenuItem>
          )}
          {offers.leave && (
            <MenuItem icon={<DoorArrowLeftRegular />} onClick={() => onCommand('leave', group)}>
              Leave group
            </MenuItem>
          )}
          {offers.delete && (
            <MenuItem
              icon={<DeleteRegular />}
              disabled={offers.deleteBlockedReason !== null}
              secondaryContent={offers.deleteBlockedReason ?? undefined}
              onClick={() => onCommand('delete', group)}
            >
              Delete
            </MenuItem>
          )}
        </MenuList>
      </MenuPopover>
    </Menu>
  );
}

export function GroupList({
  groups,
  state,
  emptyMessage,
  onCommand,
}: {
  groups: readonly DesktopGroup[];
  state: DesktopState;
  emptyMessage: string;
  onCommand: (command: GroupCommand, group: DesktopGroup) => void;
}) {
  const styles = useStyles();
  const { bodyRef, first, last, onScroll } = useWindow(groups.length);
  // A dialog opened from a row gives the focus back to the button that opened it.
  const restoreFocusTarget = useRestoreFocusTarget();
  const rows = [];
  for (let index = first; index < last; index++) {
    const group = groups[index]!;
    const offers = groupOffers(group, state);
    const notes = [offers.isCurrent && 'Current group', group.maintenance && 'In maintenance'].filter(Boolean).join(' · ');
    rows.push(
      <TableRow
        key={group.id}
        aria-rowindex={index + 2}
        aria-current={offers.isCurrent ? 'true' : undefined}
        className={mergeClasses(styles.row, offers.isCurrent && styles.current)}
        style={{ top: index * ROW_HEIGHT }}
      >
        <TableCell className={styles.name}>
          <TableCellLayout truncate description={notes ? { children: notes, className: styles.currentLabel } : undefined}>
            <Button appearance="transparent" className={styles.nameButton} onClick={() => onCommand('details', group)} {...restoreFocusTarget}>
              <span className={styles.nameText}>{group.name}</span>
            </Button>
          </TableCellLayout>
        </TableCell>
        <TableCell className={styles.description}>
          <span className={styles.ellipsis} title={group.description}>
            {group.description}
          </span>
        </TableCell>
        <TableCell className={styles.number}>{group.machineCount}</TableCell>
        <TableCell className={styles.number}>{group.runningCount}</TableCell>
        <TableCell className={styles.number}>{group.queuedCount}</TableCell>
        <TableCell className={styles.access}>{accessLabel(group)}</TableCell>
        <TableCell className={styles.owner}>
          <span className={styles.ellipsis}>{group.owner.displayName}</span>
        </TableCell>
        <TableCell className={styles.actions}>
          {offers.leave && (
            <Button size="small" onClick={() => onCommand('leave', group)} {...restoreFocusTarget}>
              Leave group
            </Button>
          )}
          {offers.join && (
            <Tooltip content={state.group ? `Move this machine from ${state.group.name} to ${group.name}` : `Add this machine to ${group.name}`} relationship="description">
              <Button size="small" appearance="primary" onClick={() => onCommand('join', group)} aria-label={`Join ${group.name}`} {...restoreFocusTarget}>
                Join
              </Button>
            </Tooltip>
          )}
          <GroupMenu group={group} state={state} onCommand={onCommand} />
        </TableCell>
      </TableRow>,
    );
  }

  return (
    <Table noNativeElements className={styles.table} aria-label="Machine groups" aria-rowcount={groups.length ? groups.length + 1 : undefined} size="medium">
      <TableHeader className={styles.header}>
        <TableRow aria-rowindex={1}>
          <TableHeaderCell className={styles.name}>Name</TableHeaderCell>
          <TableHeaderCell className={styles.description}>Description</TableHeaderCell>
          <TableHeaderCell className={styles.number}>Machines</TableHeaderCell>
          <TableHeaderCell className={styles.number}>Running</TableHeaderCell>
          <TableHeaderCell className={styles.number}>Queued</TableHeaderCell>
          <TableHeaderCell className={styles.access}>Your access</TableHeaderCell>
          <TableHeaderCell className={styles.owner}>Owner</TableHeaderCell>
          <TableHeaderCell className={styles.actions}>
            <span className="visually-hidden">Actions</span>
          </TableHeaderCell>
        </TableRow>
      </TableHeader>
      <TableBody ref={bodyRef} className={styles.body} onScroll={onScroll}>
        {groups.length === 0 ? (
          <TableRow>
            <TableCell className={styles.empty}>{emptyMessage}</TableCell>
          </TableRow>
        ) : (
          <div role="presentation" className={styles.spacer} style={{ height: groups.length * ROW_HEIGHT }}>
            {rows}
          </div>
        )}
      </TableBody>
    </Table>
  );
}
