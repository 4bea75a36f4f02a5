/**
 * A table of runs (queued, running or ended) with per-run actions: view the log, cancel, and a
 * menu with the queue events and, for those who may, Change priority and Move to top.
 */
import {
  Badge,
  Body1,
  Button,
  Menu,
  MenuGroup,
  MenuGroupHeader,
  MenuDivider,
  MenuItem,
  MenuItemRadio,
  MenuList,
  MenuPopover,
  MenuTrigger,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  makeStyles,
  tokens,
  useRestoreFocusTarget,
} from '@fluentui/react-components';
import { ArrowUpRegular, HistoryRegular, MoreHorizontalRegular } from '@fluentui/react-icons';
import type { DesktopRun, RunPriority } from '../../../../protocol/desktop-api.ts';
import { RUN_STATUS_LABEL, formatDuration, formatRunTime, runWhereabouts } from './run-labels.ts';

export type RunColumn = 'position' | 'flow' | 'status' | 'priority' | 'where' | 'waiting' | 'queued' | 'started' | 'finished' | 'duration';

const HEADER: Record<RunColumn, string> = {
  position: '#',
  flow: 'Desktop flow',
  status: 'Status',
  priority: 'Priority',
  where: 'Machine',
  waiting: 'Waiting because',
  queued: 'Queued',
  started: 'Started',
  finished: 'Ended',
  duration: 'Duration',
};

/** Fixed widths for the short columns; the flow and where it is share the rest. */
const WIDTH: Partial<Record<RunColumn, string>> = {
  position: '108px',
  status: '104px',
  priority: '120px',
  queued: '112px',
  started: '112px',
  finished: '112px',
  duration: '96px',
};

const useStyles = makeStyles({
  actions: { display: 'flex', gap: tokens.spacingHorizontalXS, justifyContent: 'flex-end', flexWrap: 'wrap' },
  empty: { color: tokens.colorNeutralForeground2 },
  where: { color: tokens.colorNeutralForeground2 },
  place: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalS, fontVariantNumeric: 'tabular-nums' },
  priority: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalXS, flexWrap: 'wrap' },
});

function cell(run: DesktopRun, column: RunColumn, index: number, styles: ReturnType<typeof useStyles>) {
  switch (column) {
    case 'position': {
      // The cloud's place in the queue (1 = next to run), else the order listed.
      const position = run.queuePosition ?? index + 1;
      return (
        <span className={styles.place}>
          {position}
          {position === 1 && (
            <Badge appearance="filled" color="brand">
              Next to run
            </Badge>
          )}
        </span>
      );
    }
    case 'flow':
      return run.flow.name;
    case 'status': {
      const label = RUN_STATUS_LABEL[run.status];
      return (
        <Badge appearance="tint" color={label.color}>
          {run.cancelRequested ? 'Stopping' : label.text}
        </Badge>
      );
    }
    case 'priority':
      return (
        <span className={styles.priority}>
          {run.priority === 'High' ? (
            <Badge appearance="outline" color="important">
              High
            </Badge>
          ) : (
            'Normal'
          )}
          {run.movedToTopAt && (
            <Badge appearance="tint" color="brand" icon={<ArrowUpRegular />}>
              Moved to top
            </Badge>
          )}
        </span>
      );
    case 'where':
    case 'waiting':
      return <span className={styles.where}>{runWhereabouts(run)}</span>;
    case 'queued':
      return formatRunTime(run.queuedAt);
    case 'started':
      return formatRunTime(run.startedAt);
    case 'finished':
      return formatRunTime(run.finishedAt);
    case 'duration':
      return formatDuration(run.startedAt, run.finishedAt);
  }
}

/** The per-run menu: the queue events, and the queue actions the user may take on a queued run. */
function RunMenu({
  run,
  busy,
  onViewEvents,
  onChangePriority,
  onMoveToTop,
}: {
  run: DesktopRun;
  busy: boolean;
  onViewEvents?: (run: DesktopRun) => void;
  onChangePriority?: (run: DesktopRun, priority: RunPriority) => void;
  onMoveToTop?: (run: DesktopRun) => void;
}) {
  const restoreFocusTarget = useRestoreFocusTarget();
  const mayReprioritise = onChangePriority !== undefined && run.allowedActions.includes('changePriority');
  const mayMove = onMoveToTop !== undefined && run.allowedActions.includes('moveToTop');
  if (!onViewEvents && !mayReprioritise && !mayMove) return null;
  return (
    <Menu
      checkedValues={{ priority: [run.priority] }}
      onCheckedValueChange={(_e, data) => {
        const priority = data.checkedItems[0] as RunPriority | undefined;
        // Choosing the priority it already has changes nothing (unless it was moved to the top: it goes back to its lane).
        if (priority && (priority !== run.priority || run.movedToTopAt)) onChangePriority?.(run, priority);
      }}
    >
      <MenuTrigger disableButtonEnhancement>
        <Button
          size="small"
          appearance="subtle"
          icon={busy ? <Spinner size="extra-tiny" /> : <MoreHorizontalRegular />}
          disabledFocusable={busy}
          aria-label={`More actions for the run of ${run.flow.name}`}
          {...restoreFocusTarget}
        />
      </MenuTrigger>
      <MenuPopover>
        <MenuList>
          {onViewEvents && (
            <MenuItem icon={<HistoryRegular />} onClick={() => onViewEvents(run)}>
              Queue events
            </MenuItem>
          )}
          {onViewEvents && (mayReprioritise || mayMove) && <MenuDivider />}
          {mayReprioritise && (
            <MenuGroup>
              <MenuGroupHeader>Change priority</MenuGroupHeader>
              <MenuItemRadio name="priority" value="High">
                High priority
              </MenuItemRadio>
              <MenuItemRadio name="priority" value="Normal">
                Normal priority
              </MenuItemRadio>
            </MenuGroup>
          )}
          {mayMove && (
            <MenuItem icon={<ArrowUpRegular />} onClick={() => onMoveToTop(run)} disabled={run.queuePosition === 1 && run.movedToTopAt !== null}>
              Move to top
            </MenuItem>
          )}
        </MenuList>
      </MenuPopover>
    </Menu>
  );
}

export function RunTable({
  runs,
  label,
  columns,
  emptyMessage,
  cancelling,
  onCancel,
  onViewLog,
  reordering,
  onViewEvents,
  onChangePriority,
  onMoveToTop,
}: {
  runs: readonly DesktopRun[];
  /** The table's accessible name, e.g. "Queued runs". */
  label: string;
  columns: readonly RunColumn[];
  emptyMessage: string;
  /** The run whose cancel is in progress. */
  cancelling?: string | null;
  onCancel?: (run: DesktopRun) => void;
  /** Offered for runs that reached a machine (the others have no log). */
  onViewLog?: (run: DesktopRun) => void;
  /** The run whose priority change or move to top is in progress. */
  reordering?: string | null;
  /** Offered for every run, in its menu. */
  onViewEvents?: (run: DesktopRun) => void;
  /** Offered, in its menu, for queued runs whose priority the user may change. */
  onChangePriority?: (run: DesktopRun, priority: RunPriority) => void;
  /** Offered, in its menu, for queued runs the user may move to the top. */
  onMoveToTop?: (run: DesktopRun) => void;
}) {
  const styles = useStyles();
  const restoreFocusTarget = useRestoreFocusTarget();
  if (runs.length === 0) return <Body1 className={styles.empty}>{emptyMessage}</Body1>;
  // The menu button, and View log and Cancel where offered.
  const actionsWidth = 40 + (onViewLog ? 80 : 0) + (onCancel ? 76 : 0);
  return (
    <Table aria-label={label} size="small">
      <TableHeader>
        <TableRow>
          {columns.map((column) => (
            <TableHeaderCell key={column} style={WIDTH[column] ? { width: WIDTH[column] } : undefined}>
              {column === 'position' ? (
                <>
                  <span aria-hidden="true">#</span>
                  <span className="visually-hidden">Position</span>
                </>
              ) : (
                HEADER[column]
              )}
            </TableHeaderCell>
          ))}
          <TableHeaderCell style={{ width: `${actionsWidth}px` }}>
            <span className="visually-hidden">Actions</span>
          </TableHeaderCell>
        </TableRow>
      </TableHeader>
      <TableBody>
        {runs.map((run, index) => (
          <TableRow key={run.id} data-run-id={run.id}>
            {columns.map((column) => (
              <TableCell key={column}>{cell(run, column, index, styles)}</TableCell>
            ))}
            <TableCell>
              <div className={styles.actions}>
                {onViewLog && run.machine !== null && (
                  <Button size="small" appearance="subtle" onClick={() => onViewLog(run)} aria-label={`View the log of ${run.flow.name}`} {...restoreFocusTarget}>
                    View log
                  </Button>
                )}
                {onCancel && run.allowedActions.includes('cancel') && (
                  <Button
                    size="small"
                    disabledFocusable={cancelling === run.id}
                    icon={cancelling === run.id ? <Spinner size="extra-tiny" /> : undefined}
                    onClick={() => onCancel(run)}
                    aria-label={`Cancel the run of ${run.flow.name}`}
                  >
                    {cancelling === run.id ? 'Cancelling…' : 'Cancel'}
                  </Button>
                )}
                <RunMenu run={run} busy={reordering === run.id} onViewEvents={onViewEvents} onChangePriority={onChangePriority} onMoveToTop={onMoveToTop} />
              </div>
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
