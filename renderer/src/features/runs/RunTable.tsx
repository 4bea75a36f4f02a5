/** A table of runs (queued, running or ended) with per-run actions: view the log, cancel. */
import {
  Badge,
  Body1,
  Button,
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
import type { DesktopRun } from '../../../../protocol/desktop-api.ts';
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
  position: '40px',
  status: '104px',
  priority: '88px',
  queued: '112px',
  started: '112px',
  finished: '112px',
  duration: '96px',
};

const useStyles = makeStyles({
  actions: { display: 'flex', gap: tokens.spacingHorizontalXS, justifyContent: 'flex-end', flexWrap: 'wrap' },
  empty: { color: tokens.colorNeutralForeground2 },
  where: { color: tokens.colorNeutralForeground2 },
});

function cell(run: DesktopRun, column: RunColumn, index: number, styles: ReturnType<typeof useStyles>) {
  switch (column) {
    case 'position':
      return index + 1;
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
      return run.priority === 'High' ? (
        <Badge appearance="outline" color="important">
          High
        </Badge>
      ) : (
        'Normal'
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

export function RunTable({
  runs,
  label,
  columns,
  emptyMessage,
  cancelling,
  onCancel,
  onViewLog,
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
}) {
  const styles = useStyles();
  const restoreFocusTarget = useRestoreFocusTarget();
  if (runs.length === 0) return <Body1 className={styles.empty}>{emptyMessage}</Body1>;
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
          <TableHeaderCell style={{ width: onViewLog && onCancel ? '176px' : '96px' }}>
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
              </div>
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
