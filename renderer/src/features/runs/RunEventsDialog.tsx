/**
 * A run's queue events (the model portal's queue history): queued by whom, starting on which
 * machine, refused by which machine and why, priority changed, moved to top, finished — oldest
 * first, each with its time. Followed while the run has not ended.
 */
import { useCallback } from 'react';
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
  tokens,
} from '@fluentui/react-components';
import type { DesktopRun } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { usePoll } from '../../app/use-poll.ts';
import { RUN_STATUS_LABEL, formatRunTime, isRunFinished, queueEventText, queuePlace, runWhereabouts } from './run-labels.ts';

const FOLLOW_MS = 3000;

const useStyles = makeStyles({
  surface: { maxWidth: '720px', width: '100%' },
  content: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  summary: { display: 'flex', gap: tokens.spacingHorizontalM, alignItems: 'center', flexWrap: 'wrap' },
  muted: { color: tokens.colorNeutralForeground2 },
  timeline: {
    listStyleType: 'none',
    margin: 0,
    padding: 0,
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalS,
    borderLeft: `${tokens.strokeWidthThick} solid ${tokens.colorNeutralStroke2}`,
  },
  event: { display: 'grid', gridTemplateColumns: '128px 1fr', columnGap: tokens.spacingHorizontalM, paddingLeft: tokens.spacingHorizontalM },
  time: { color: tokens.colorNeutralForeground2, fontVariantNumeric: 'tabular-nums' },
});

export function RunEventsDialog({ run, onClose }: { run: DesktopRun; onClose: () => void }) {
  const styles = useStyles();
  const finished = isRunFinished(run);
  const label = RUN_STATUS_LABEL[run.status];
  const load = useCallback(() => getRuntime().getRunEvents({ runId: run.id }), [run.id]);
  // One read for an ended run (its story is complete); followed while it waits or runs.
  const { data, error } = usePoll(load, { intervalMs: finished ? 24 * 3600_000 : FOLLOW_MS });
  const place = queuePlace(run);

  return (
    <Dialog open modalType="modal" onOpenChange={(_e, d) => !d.open && onClose()}>
      <DialogSurface className={styles.surface}>
        <DialogBody>
          <DialogTitle>Queue events: {run.flow.name}</DialogTitle>
          <DialogContent className={styles.content}>
            <div className={styles.summary}>
              <Badge appearance="tint" color={label.color}>
                {run.cancelRequested ? 'Stopping' : label.text}
              </Badge>
              {place && <Body1>{place}</Body1>}
              <Body1 className={styles.muted}>{runWhereabouts(run)}</Body1>
            </div>
            {error && (
              <MessageBar intent="error" role="alert">
                <MessageBarBody>The queue events could not be loaded. {error}</MessageBarBody>
              </MessageBar>
            )}
            {!data && !error && <Spinner size="small" label="Loading the queue events…" />}
            {data && (
              <ol className={styles.timeline} aria-label={`Queue events of ${run.flow.name}`}>
                {data.events.map((event, index) => (
                  <li key={`${index}-${event.kind}`} className={styles.event}>
                    <time className={styles.time} dateTime={event.at}>
                      {formatRunTime(event.at)}
                    </time>
                    <span>{queueEventText(event)}</span>
                  </li>
                ))}
              </ol>
            )}
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
