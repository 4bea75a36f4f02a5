/**
 * A group's run queue (the model portal's "Run queue" tab): Running, Queued in the order they
 * will start (with why each waits), and the last runs that ended. Refreshed every few seconds
 * while shown, and on Refresh. Cancel is offered for the runs the user may cancel.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { Button, MessageBar, MessageBarBody, Spinner, Subtitle2, makeStyles, tokens } from '@fluentui/react-components';
import { ArrowClockwiseRegular } from '@fluentui/react-icons';
import type { DesktopGroup, DesktopRun } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { useAction } from '../../app/use-action.ts';
import { usePoll } from '../../app/use-poll.ts';
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
  const action = useAction();
  const counts = useRef<string | null>(null);

  useEffect(() => {
    if (!data) return;
    const now = `${data.running.length}/${data.queued.length}`;
    if (counts.current !== null && counts.current !== now) onChanged?.();
    counts.current = now;
  }, [data, onChanged]);

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

  // The log dialog follows the run as the queue refreshes (Running → Succeeded).
  const all = data ? [...data.running, ...data.queued, ...data.recent] : [];
  const shownLogRun = logRunId ? (all.find((r) => r.id === logRunId) ?? logRun) : null;
  const viewLog = (run: DesktopRun) => {
    setLogRun(run);
    setLogRunId(run.id);
  };

  return (
    <div className={styles.root}>
      <div className={styles.toolbar}>
        <Button icon={<ArrowClockwiseRegular />} appearance="subtle" onClick={() => void refresh()} disabledFocusable={loading} aria-label={`Refresh the run queue of ${group.name}`}>
          Refresh
        </Button>
        {loading && !data && <Spinner size="tiny" label="Loading the run queue…" />}
      </div>
      {error && (
        <MessageBar intent="error" role="alert">
          <MessageBarBody>The run queue could not be loaded. {error}</MessageBarBody>
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
          />
        </>
      )}
      {shownLogRun && <RunLogDialog run={shownLogRun} onClose={() => setLogRunId(null)} />}
    </div>
  );
}
