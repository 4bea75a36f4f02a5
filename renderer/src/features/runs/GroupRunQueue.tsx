/**
 * A group's run queue (the model portal's "Run queue" tab): Running, Queued in the order they
 * will start ("Next to run" first, with why each waits), and the last runs that ended. Refreshed
 * every few seconds while shown, on Refresh, and at once after an action. Per run, what the user
 * may do (`allowedActions`): Cancel, and in its menu Change priority and Move to top; every run's
 * menu opens its queue events. A refused action shows in a message bar above the queue.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  Button,
  MessageBar,
  MessageBarActions,
  MessageBarBody,
  MessageBarTitle,
  Spinner,
  Subtitle2,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { ArrowClockwiseRegular, DismissRegular } from '@fluentui/react-icons';
import type { DesktopGroup, DesktopRun, RunPriority } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { useAction } from '../../app/use-action.ts';
import { usePoll } from '../../app/use-poll.ts';
import { RunEventsDialog } from './RunEventsDialog.tsx';
import { RunLogDialog } from './RunLogDialog.tsx';
import { RunTable } from './RunTable.tsx';

export const QUEUE_REFRESH_MS = 3000;

const useStyles = makeStyles({
  root: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  toolbar: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalM },
  updated: { marginLeft: 'auto', color: tokens.colorNeutralForeground2 },
  heading: { marginTop: tokens.spacingVerticalS },
});

/** `onChanged` is called when a run was cancelled here or the queue's counts moved (the group list shows them). */
export function GroupRunQueue({ group, onChanged }: { group: DesktopGroup; onChanged?: () => void }) {
  const styles = useStyles();
  const load = useCallback(() => getRuntime().listGroupRuns({ groupId: group.id }), [group.id]);
  const { data, error, loading, refresh } = usePoll(load, { intervalMs: QUEUE_REFRESH_MS });
  const [cancelling, setCancelling] = useState<string | null>(null);
  const [logRunId, setLogRunId] = useState<string | null>(null);
  const [logRun, setLogRun] = useState<DesktopRun | null>(null);
  const [eventsRunId, setEventsRunId] = useState<string | null>(null);
  const [eventsRun, setEventsRun] = useState<DesktopRun | null>(null);
  const [reordering, setReordering] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<{ title: string; message: string } | null>(null);
  const action = useAction();
  const reorder = useAction();
  const counts = useRef<string | null>(null);

  useEffect(() => {
    if (!data) return;
    const now = `${data.running.length}/${data.queued.length}`;
    // On the first read, against the counts the group list showed (they may be older).
    const before = counts.current ?? `${group.runningCount}/${group.queuedCount}`;
    if (before !== now) onChanged?.();
    counts.current = now;
  }, [data, onChanged, group.runningCount, group.queuedCount]);

  const cancel = async (run: DesktopRun) => {
    setCancelling(run.id);
    const outcome = await action.run(() => getRuntime().cancelRun({ runId: run.id }), {
      success: (r) => (r.status === 'Cancelled' ? `The run of ${run.flow.name} was cancelled` : `${run.flow.name} is being stopped`),
      failure: 'Could not cancel the run',
    });
    setCancelling(null);
    if (outcome.ok) {
      await refresh();
      onChanged?.();
    }
  };

  /** Change priority / Move to top: the queue is read again at once, whatever the outcome. */
  const reorderRun = async (run: DesktopRun, change: () => Promise<DesktopRun>, messages: { success: (r: DesktopRun) => string; failure: string }) => {
    setReordering(run.id);
    setRefusal(null);
    const outcome = await reorder.run(change, { success: messages.success, failure: messages.failure, toastOnFailure: false });
    if (!outcome.ok) setRefusal({ title: messages.failure, message: outcome.failure.message });
    await refresh();
    setReordering(null);
  };
  const changePriority = (run: DesktopRun, priority: RunPriority) =>
    reorderRun(run, () => getRuntime().changeRunPriority({ runId: run.id, priority }), {
      success: (r) => `${run.flow.name} is now ${r.priority} priority${r.queuePosition === 1 ? ' and next to run' : ''}`,
      failure: `Could not change the priority of ${run.flow.name}`,
    });
  const moveToTop = (run: DesktopRun) =>
    reorderRun(run, () => getRuntime().moveRunToTop({ runId: run.id }), {
      success: () => `${run.flow.name} was moved to the top of the queue`,
      failure: `Could not move ${run.flow.name} to the top`,
    });

  // The dialogs follow their run as the queue refreshes (Queued → Running → Succeeded).
  const all = data ? [...data.running, ...data.queued, ...data.recent] : [];
  const shownLogRun = logRunId ? (all.find((r) => r.id === logRunId) ?? logRun) : null;
  const shownEventsRun = eventsRunId ? (all.find((r) => r.id === eventsRunId) ?? eventsRun) : null;
  const viewLog = (run: DesktopRun) => {
    setLogRun(run);
    setLogRunId(run.id);
  };
  const viewEvents = (run: DesktopRun) => {
    setEventsRun(run);
    setEventsRunId(run.id);
  };

  return (
    <div className={styles.root}>
      <div className={styles.toolbar}>
        {/* Never greyed out by the background reads every few seconds: a click during one joins it. */}
        <Button icon={<ArrowClockwiseRegular />} appearance="subtle" onClick={() => void refresh()} aria-label={`Refresh the run queue of ${group.name}`}>
          Refresh
        </Button>
        {loading && !data && <Spinner size="tiny" label="Loading the run queue…" />}
      </div>
      {error && (
        <MessageBar intent="error" role="alert">
          <MessageBarBody>The run queue could not be loaded. {error}</MessageBarBody>
        </MessageBar>
      )}
      {refusal && (
        <MessageBar intent="error" role="alert">
          <MessageBarBody>
            <MessageBarTitle>{refusal.title}</MessageBarTitle>
            {refusal.message}
          </MessageBarBody>
          <MessageBarActions
            containerAction={<Button appearance="transparent" icon={<DismissRegular />} aria-label="Dismiss the message" onClick={() => setRefusal(null)} />}
          />
        </MessageBar>
      )}
      {group.maintenance && (
        <MessageBar intent="warning">
          <MessageBarBody>{group.name} is in maintenance: queued runs wait until maintenance ends.</MessageBarBody>
        </MessageBar>
      )}
      {data && (
        <>
          <Subtitle2 as="h3" className={styles.heading}>
            Running ({data.running.length})
          </Subtitle2>
          <RunTable
            runs={data.running}
            label="Running runs"
            columns={['flow', 'status', 'where', 'started', 'duration']}
            emptyMessage="No run is running on this group."
            cancelling={cancelling}
            onCancel={cancel}
            onViewLog={viewLog}
            onViewEvents={viewEvents}
          />
          <Subtitle2 as="h3" className={styles.heading}>
            Queued ({data.queued.length})
          </Subtitle2>
          <RunTable
            runs={data.queued}
            label="Queued runs"
            columns={['position', 'flow', 'priority', 'queued', 'waiting']}
            emptyMessage="No run is waiting. Queued runs show here in the order they will start."
            cancelling={cancelling}
            onCancel={cancel}
            reordering={reordering}
            onViewEvents={viewEvents}
            onChangePriority={(run, priority) => void changePriority(run, priority)}
            onMoveToTop={(run) => void moveToTop(run)}
          />
          <Subtitle2 as="h3" className={styles.heading}>
            Recently ended
          </Subtitle2>
          <RunTable
            runs={data.recent}
            label="Recently ended runs"
            columns={['flow', 'status', 'where', 'finished', 'duration']}
            emptyMessage="No run has ended on this group yet."
            onViewLog={viewLog}
            onViewEvents={viewEvents}
          />
        </>
      )}
      {shownLogRun && <RunLogDialog run={shownLogRun} onClose={() => setLogRunId(null)} />}
      {shownEventsRun && <RunEventsDialog run={shownEventsRun} onClose={() => setEventsRunId(null)} />}
    </div>
  );
}
