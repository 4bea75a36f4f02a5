/**
 * Machine settings, "Runs": this machine's status as the cloud sees it, its maintenance switch
 * (for its owner), the runs it has now and the last that ended, each with its log. Refreshed
 * every few seconds while shown, and on Refresh.
 */
import { useCallback, useState } from 'react';
import { Badge, Button, MessageBar, MessageBarBody, Spinner, Subtitle1, Subtitle2, makeStyles, tokens } from '@fluentui/react-components';
import { ArrowClockwiseRegular } from '@fluentui/react-icons';
import type { DesktopRun, MachineStatus } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { useAction } from '../../app/use-action.ts';
import { usePoll } from '../../app/use-poll.ts';
import { MaintenanceSwitch } from './MaintenanceSwitch.tsx';
import { RunEventsDialog } from './RunEventsDialog.tsx';
import { RunLogDialog } from './RunLogDialog.tsx';
import { RunTable } from './RunTable.tsx';

export const MACHINE_RUNS_REFRESH_MS = 3000;

export const MACHINE_STATUS_COLOR: Record<MachineStatus, 'success' | 'danger' | 'warning' | 'informative'> = {
  Online: 'success',
  Busy: 'warning',
  Offline: 'danger',
  Maintenance: 'informative',
};

const useStyles = makeStyles({
  root: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  header: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalM, flexWrap: 'wrap' },
  refresh: { marginLeft: 'auto' },
  heading: { marginTop: tokens.spacingVerticalS },
});

export function MachineRuns({ machineName }: { machineName: string }) {
  const styles = useStyles();
  const load = useCallback(() => getRuntime().listMachineRuns(), []);
  const { data, error, refresh, setData } = usePoll(load, { intervalMs: MACHINE_RUNS_REFRESH_MS });
  const [cancelling, setCancelling] = useState<string | null>(null);
  const [logRunId, setLogRunId] = useState<string | null>(null);
  const [logRun, setLogRun] = useState<DesktopRun | null>(null);
  const [eventsRunId, setEventsRunId] = useState<string | null>(null);
  const [eventsRun, setEventsRun] = useState<DesktopRun | null>(null);
  const cancelAction = useAction();
  const maintenanceAction = useAction();

  const cancel = async (run: DesktopRun) => {
    setCancelling(run.id);
    const outcome = await cancelAction.run(() => getRuntime().cancelRun({ runId: run.id }), {
      success: (r) => (r.status === 'Cancelled' ? `The run of ${run.flow.name} was cancelled` : `${run.flow.name} is being stopped`),
      failure: 'Could not cancel the run',
    });
    setCancelling(null);
    if (outcome.ok) await refresh();
  };

  const switchMaintenance = async (maintenance: boolean): Promise<boolean> => {
    if (!data) return false;
    const outcome = await maintenanceAction.run(() => getRuntime().setMachineMaintenance({ machineId: data.machine.id, maintenance }), {
      success: maintenance ? `Maintenance mode is on for ${data.machine.name}` : `Maintenance mode is off for ${data.machine.name}`,
      failure: 'Could not switch maintenance mode',
      toastOnFailure: !maintenance,
    });
    if (!outcome.ok) return false;
    setData({ ...data, machine: { ...data.machine, status: outcome.result.status, maintenance: outcome.result.maintenance } });
    void refresh();
    return true;
  };

  const all = data ? [...data.current, ...data.recent] : [];
  const shownLogRun = logRunId ? (all.find((r) => r.id === logRunId) ?? logRun) : null;
  const viewLog = (run: DesktopRun) => {
    setLogRun(run);
    setLogRunId(run.id);
  };
  const shownEventsRun = eventsRunId ? (all.find((r) => r.id === eventsRunId) ?? eventsRun) : null;
  const viewEvents = (run: DesktopRun) => {
    setEventsRun(run);
    setEventsRunId(run.id);
  };

  return (
    <section className={styles.root} aria-labelledby="machine-runs-title">
      <div className={styles.header}>
        <Subtitle1 as="h2" id="machine-runs-title">
          Runs
        </Subtitle1>
        {data && (
          <Badge appearance="tint" color={MACHINE_STATUS_COLOR[data.machine.status]}>
            <span className="visually-hidden">Machine status: </span>
            {data.machine.status}
          </Badge>
        )}
        <Button className={styles.refresh} icon={<ArrowClockwiseRegular />} appearance="subtle" onClick={() => void refresh()} aria-label="Refresh the runs of this machine">
          Refresh
        </Button>
      </div>
      {error && (
        <MessageBar intent="error" role="alert">
          <MessageBarBody>The runs of {machineName} could not be loaded. {error}</MessageBarBody>
        </MessageBar>
      )}
      {!data && !error && <Spinner size="small" label="Loading the runs…" />}
      {data && (
        <>
          {data.machine.mayEdit && (
            <MaintenanceSwitch
              subject="machine"
              name={data.machine.name}
              maintenance={data.machine.maintenance}
              busy={maintenanceAction.busy}
              failure={maintenanceAction.failure}
              onSwitch={switchMaintenance}
            />
          )}
          {!data.machine.mayEdit && data.machine.maintenance && (
            <MessageBar intent="info">
              <MessageBarBody>This machine is in maintenance: no new runs start on it.</MessageBarBody>
            </MessageBar>
          )}
          <Subtitle2 as="h3" className={styles.heading}>
            Current
          </Subtitle2>
          <RunTable
            runs={data.current}
            label="Current runs on this machine"
            columns={['flow', 'status', 'started', 'duration']}
            emptyMessage="Nothing is running on this machine."
            cancelling={cancelling}
            onCancel={cancel}
            onViewLog={viewLog}
            onViewEvents={viewEvents}
          />
          <Subtitle2 as="h3" className={styles.heading}>
            Recent
          </Subtitle2>
          <RunTable
            runs={data.recent}
            label="Recent runs on this machine"
            columns={['flow', 'status', 'finished', 'duration']}
            emptyMessage="No run has ended on this machine yet."
            onViewLog={viewLog}
            onViewEvents={viewEvents}
          />
        </>
      )}
      {shownLogRun && <RunLogDialog run={shownLogRun} onClose={() => setLogRunId(null)} />}
      {shownEventsRun && <RunEventsDialog run={shownEventsRun} onClose={() => setEventsRunId(null)} />}
    </section>
  );
}
