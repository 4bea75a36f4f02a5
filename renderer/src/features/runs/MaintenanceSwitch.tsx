/**
 * The maintenance mode switch of a group or a machine. Switching it on is confirmed with
 * "Activate" (as the model portal does); switching it off takes effect at once.
 */
import { useId, useState, type FormEvent } from 'react';
import {
  Body1,
  Button,
  Caption1,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  MessageBar,
  MessageBarBody,
  Spinner,
  Switch,
  makeStyles,
  tokens,
  useRestoreFocusTarget,
} from '@fluentui/react-components';
import type { ActionFailure } from '../../app/use-action.ts';

const useStyles = makeStyles({
  root: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXXS },
  row: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalS },
  hint: { color: tokens.colorNeutralForeground2, paddingLeft: tokens.spacingHorizontalS },
  content: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
});

export function MaintenanceSwitch({
  subject,
  name,
  maintenance,
  busy,
  failure,
  onSwitch,
}: {
  subject: 'group' | 'machine';
  name: string;
  maintenance: boolean;
  busy: boolean;
  failure: ActionFailure | null;
  /** Switches it; resolves true when it worked. */
  onSwitch: (maintenance: boolean) => Promise<boolean>;
}) {
  const styles = useStyles();
  const hintId = useId();
  const [confirming, setConfirming] = useState(false);
  const restoreFocusTarget = useRestoreFocusTarget();
  const effect =
    subject === 'group'
      ? `No new runs start on the machines of ${name}; running runs finish. Queued runs wait until maintenance ends.`
      : `No new runs start on ${name}; a running run finishes. Runs queued on its group go to the group's other machines.`;

  const activate = async (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    if (await onSwitch(true)) setConfirming(false);
  };

  return (
    <div className={styles.root}>
      <div className={styles.row}>
        <Switch
          label="Maintenance mode"
          checked={maintenance}
          aria-describedby={hintId}
          {...restoreFocusTarget}
          onChange={(_e, data) => {
            if (busy) return;
            if (data.checked) setConfirming(true);
            else void onSwitch(false);
          }}
        />
        {busy && !confirming && <Spinner size="tiny" label={maintenance ? 'Ending maintenance…' : 'Activating…'} />}
      </div>
      <Caption1 id={hintId} className={styles.hint}>
        {maintenance ? `On: ${effect}` : `Off. While on, no new runs start ${subject === 'group' ? 'on its machines' : 'on it'}.`}
      </Caption1>
      <Dialog open={confirming} modalType="modal" onOpenChange={(_e, data) => !data.open && !busy && setConfirming(false)}>
        <DialogSurface>
          <form onSubmit={activate}>
            <DialogBody>
              <DialogTitle>Activate maintenance mode?</DialogTitle>
              <DialogContent className={styles.content}>
                <Body1>{effect}</Body1>
                {failure && (
                  <MessageBar intent="error" role="alert">
                    <MessageBarBody>{failure.message}</MessageBarBody>
                  </MessageBar>
                )}
                <div role="status">{busy && <Spinner size="tiny" labelPosition="after" label="Activating…" />}</div>
              </DialogContent>
              <DialogActions>
                <Button type="button" appearance="secondary" onClick={() => setConfirming(false)} disabledFocusable={busy}>
                  Cancel
                </Button>
                <Button type="submit" appearance="primary" disabledFocusable={busy}>
                  Activate
                </Button>
              </DialogActions>
            </DialogBody>
          </form>
        </DialogSurface>
      </Dialog>
    </div>
  );
}
