/**
 * A run's log: its lines (stdout, stderr and the system's), followed while the run is active
 * (only the new lines are asked for), with its status and result.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
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
  makeStyles,
  mergeClasses,
  tokens,
} from '@fluentui/react-components';
import type { DesktopRun, DesktopRunLogs } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { describeError } from '../../api/error-messages.ts';
import { RUN_STATUS_LABEL, formatDuration, formatRunTime, isRunFinished, runWhereabouts } from './run-labels.ts';

type LogLine = DesktopRunLogs['lines'][number];

const FOLLOW_MS = 2000;

const useStyles = makeStyles({
  surface: { maxWidth: '820px', width: '100%' },
  content: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  summary: { display: 'flex', gap: tokens.spacingHorizontalM, alignItems: 'center', flexWrap: 'wrap' },
  muted: { color: tokens.colorNeutralForeground2 },
  log: {
    margin: 0,
    minHeight: '160px',
    maxHeight: '360px',
    overflow: 'auto',
    padding: tokens.spacingHorizontalM,
    backgroundColor: tokens.colorNeutralBackground3,
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
    fontFamily: tokens.fontFamilyMonospace,
    fontSize: tokens.fontSizeBase200,
    lineHeight: tokens.lineHeightBase300,
    whiteSpace: 'pre-wrap',
    wordBreak: 'break-word',
    ':focus-visible': { outline: `${tokens.strokeWidthThick} solid ${tokens.colorStrokeFocus2}` },
  },
  time: { color: tokens.colorNeutralForeground2 },
  stderr: { color: tokens.colorPaletteRedForeground1 },
  system: { color: tokens.colorNeutralForeground2, fontStyle: 'italic' },
});

export function RunLogDialog({ run, onClose }: { run: DesktopRun; onClose: () => void }) {
  const styles = useStyles();
  const [lines, setLines] = useState<LogLine[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const lastSeq = useRef<number | undefined>(undefined);
  const logRef = useRef<HTMLDivElement>(null);
  const finished = isRunFinished(run);
  const label = RUN_STATUS_LABEL[run.status];

  const fetchMore = useCallback(async () => {
    try {
      const after = lastSeq.current;
      const logs = await getRuntime().getRunLogs(after === undefined ? { runId: run.id } : { runId: run.id, after });
      if (logs.lines.length > 0) lastSeq.current = Math.max(lastSeq.current ?? 0, logs.lines[logs.lines.length - 1]!.seq);
      // Two reads may overlap (the last one after the run ended): keep each line once.
      setLines((previous) => {
        const known = previous ?? [];
        const newest = known.length > 0 ? known[known.length - 1]!.seq : 0;
        return [...known, ...logs.lines.filter((line) => line.seq > newest)];
      });
      setTruncated(logs.truncated);
      setError(null);
    } catch (e) {
      setError(describeError(e));
    }
  }, [run.id]);

  // Follow the log while the run is active; one last read once it has ended.
  useEffect(() => {
    void fetchMore();
    if (finished) return;
    const timer = setInterval(() => void fetchMore(), FOLLOW_MS);
    return () => clearInterval(timer);
  }, [fetchMore, finished]);

  // Keep the newest line in view while following, unless the reader scrolled up.
  useEffect(() => {
    const log = logRef.current;
    if (log && log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  }, [lines]);

  return (
    <Dialog open modalType="modal" onOpenChange={(_e, data) => !data.open && onClose()}>
      <DialogSurface className={styles.surface}>
        <DialogBody>
          <DialogTitle>Log: {run.flow.name}</DialogTitle>
          <DialogContent className={styles.content}>
            <div className={styles.summary}>
              <Badge appearance="tint" color={label.color}>
                {run.cancelRequested ? 'Stopping' : label.text}
              </Badge>
              <Body1>{runWhereabouts(run)}</Body1>
              <Body1 className={styles.muted}>
                {!run.startedAt
                  ? 'Not started'
                  : `Started ${formatRunTime(run.startedAt)} · ${finished ? `ran ${formatDuration(run.startedAt, run.finishedAt)}` : `running for ${formatDuration(run.startedAt, null)}`}`}
              </Body1>
            </div>
            {run.error && run.status !== 'Succeeded' && (
              <MessageBar intent={run.status === 'Cancelled' ? 'warning' : 'error'}>
                <MessageBarBody>
                  {run.error.message} ({run.error.code})
                </MessageBarBody>
              </MessageBar>
            )}
            {error && (
              <MessageBar intent="error" role="alert">
                <MessageBarBody>The log could not be loaded. {error}</MessageBarBody>
              </MessageBar>
            )}
            {truncated && (
              <MessageBar intent="info">
                <MessageBarBody>The flow wrote more lines than the cloud keeps; the rest were dropped.</MessageBarBody>
              </MessageBar>
            )}
            {lines === null && !error ? (
              <Spinner size="small" label="Loading the log…" />
            ) : (
              // A focusable region, so the log scrolls with the keyboard.
              <div ref={logRef} className={styles.log} role="log" aria-label={`Log lines of ${run.flow.name}`} tabIndex={0}>
                {lines && lines.length === 0 && <span className={styles.system}>{finished ? 'The flow wrote nothing.' : 'No lines yet.'}</span>}
                {lines?.map((line) => (
                  <div key={line.seq} className={mergeClasses(line.stream === 'stderr' && styles.stderr, line.stream === 'system' && styles.system)}>
                    <span className={styles.time}>{new Date(line.at).toLocaleTimeString()} </span>
                    {line.stream === 'stderr' ? <span className="visually-hidden">error output: </span> : null}
                    {line.line}
                  </div>
                ))}
              </div>
            )}
            <div role="status" className={styles.muted}>
              {!finished && <Spinner size="tiny" labelPosition="after" label="Following the log while the run is active…" />}
            </div>
          </DialogContent>
          <DialogActions>
            <Button appearance="secondary" onClick={onClose}>
              Close
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
