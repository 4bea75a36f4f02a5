/**
 * Machine settings: register this machine (name, description, environment) or, once registered,
 * its details, connection state and last heartbeat; re-register; the clone warning; its runs
 * and maintenance mode (features/runs/MachineRuns.tsx).
 */
import { useEffect, useState, type FormEvent } from 'react';
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
  Dropdown,
  Field,
  Input,
  MessageBar,
  MessageBarActions,
  MessageBarBody,
  MessageBarTitle,
  Option,
  Spinner,
  Subtitle1,
  Textarea,
  makeStyles,
  tokens,
  useRestoreFocusTarget,
} from '@fluentui/react-components';
import type { ConnectionState, DesktopEnvironment, DesktopState } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { describeError } from '../../api/error-messages.ts';
import { PageHeader, useLayoutStyles } from '../../app/layout.tsx';
import { useAction } from '../../app/use-action.ts';
import { useAppStore } from '../../stores/app-store.ts';
import { MachineRuns } from '../runs/MachineRuns.tsx';
import { formatTime } from '../../app/format.ts';

const useStyles = makeStyles({
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content 1fr',
    columnGap: tokens.spacingHorizontalXXL,
    rowGap: tokens.spacingVerticalS,
    margin: 0,
  },
  term: { color: tokens.colorNeutralForeground2 },
  value: { margin: 0 },
});

const CONNECTION_LABEL: Record<ConnectionState, { text: string; color: 'success' | 'warning' | 'danger' | 'informative' }> = {
  Online: { text: 'Online', color: 'success' },
  Connecting: { text: 'Connecting…', color: 'warning' },
  Offline: { text: 'Offline', color: 'danger' },
  NotRegistered: { text: 'Not registered', color: 'informative' },
};

function validateName(name: string): string | undefined {
  if (!name.trim()) return 'Enter a machine name.';
  if (name.length > 100) return 'Use at most 100 characters.';
  return undefined;
}

function useEnvironments(enabled: boolean) {
  const [environments, setEnvironments] = useState<DesktopEnvironment[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let cancelled = false;
    getRuntime()
      .listEnvironments()
      .then(
        (list) => !cancelled && setEnvironments(list),
        (e: unknown) => !cancelled && setError(describeError(e)),
      );
    return () => {
      cancelled = true;
    };
  }, [enabled]);
  return { environments, error };
}

function RegisterForm({ state }: { state: DesktopState }) {
  const styles = useLayoutStyles();
  const setState = useAppStore((s) => s.setState);
  const { environments, error: environmentsError } = useEnvironments(true);
  const [name, setName] = useState(state.hostName);
  const [description, setDescription] = useState('');
  const [environmentId, setEnvironmentId] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const action = useAction();

  const selectable = environments?.filter((e) => e.mayRegister) ?? [];
  const chosen = environmentId ?? selectable.find((e) => e.isDefault)?.id ?? selectable[0]?.id ?? null;
  const nameError = submitted ? validateName(name) : undefined;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (action.busy) return;
    setSubmitted(true);
    if (validateName(name)) return;
    const outcome = await action.run(
      () =>
        getRuntime().registerMachine({
          name: name.trim(),
          description: description.trim(),
          ...(chosen ? { environmentId: chosen } : {}),
        }),
      { success: (s) => `${s.machine?.name ?? 'The machine'} is registered`, failure: 'Could not register this machine' },
    );
    if (outcome.ok) setState(outcome.result);
  };

  return (
    <form className={styles.form} onSubmit={submit} aria-label="Register this machine" noValidate>
      <MessageBar intent="info">
        <MessageBarBody>
          <MessageBarTitle>Machine isn't registered</MessageBarTitle>
          Register this machine to run desktop flows on it and to add it to a machine group.
        </MessageBarBody>
      </MessageBar>
      <Field label="Machine name" required validationState={nameError ? 'error' : 'none'} validationMessage={nameError} hint="Unique in the environment; at most 100 characters.">
        <Input value={name} onChange={(_e, d) => setName(d.value)} maxLength={100} />
      </Field>
      <Field label="Machine description" hint="Optional; at most 2,000 characters.">
        <Textarea value={description} onChange={(_e, d) => setDescription(d.value)} maxLength={2000} resize="vertical" />
      </Field>
      <Field
        label="Machine environment"
        validationState={environmentsError || (environments && selectable.length === 0) ? 'error' : 'none'}
        validationMessage={
          environmentsError ?? (environments && selectable.length === 0 ? 'You may not register machines in any environment. Ask an environment admin.' : undefined)
        }
      >
        <Dropdown
          placeholder={environments ? 'Choose an environment' : 'Loading environments…'}
          disabled={!environments || selectable.length === 0}
          value={selectable.find((e) => e.id === chosen)?.name ?? ''}
          selectedOptions={chosen ? [chosen] : []}
          onOptionSelect={(_e, d) => d.optionValue && setEnvironmentId(d.optionValue)}
        >
          {selectable.map((environment) => (
            <Option key={environment.id} value={environment.id}>
              {environment.name}
            </Option>
          ))}
        </Dropdown>
      </Field>
      <div className={styles.actions}>
        <Button type="submit" appearance="primary" disabledFocusable={action.busy}>
          Register
        </Button>
        {action.busy && <Spinner size="tiny" label="Registering…" />}
      </div>
    </form>
  );
}

function ReRegisterDialog({ state, open, onOpenChange }: { state: DesktopState; open: boolean; onOpenChange: (open: boolean) => void }) {
  const styles = useLayoutStyles();
  const setState = useAppStore((s) => s.setState);
  const action = useAction();
  const machine = state.machine!;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (action.busy) return;
    const outcome = await action.run(
      () =>
        getRuntime().reRegisterMachine({ name: machine.name, description: machine.description, environmentId: machine.environmentId }),
      { success: 'Registered as a new machine', failure: 'Could not register as a new machine', toastOnFailure: false },
    );
    if (outcome.ok) {
      setState(outcome.result);
      onOpenChange(false);
    }
  };

  return (
    <Dialog open={open} onOpenChange={(_e, d) => onOpenChange(d.open)}>
      <DialogSurface>
        <form onSubmit={submit}>
          <DialogBody>
            <DialogTitle>Register as a new machine?</DialogTitle>
            <DialogContent className={styles.form}>
              <Body1>
                This machine gets new keys and a new identity in the cloud. It leaves its machine group, and
                connections that targeted it break until they are updated.
              </Body1>
              {action.failure && (
                <MessageBar intent="error" role="alert">
                  <MessageBarBody>{action.failure.message}</MessageBarBody>
                </MessageBar>
              )}
            </DialogContent>
            <DialogActions>
              {action.busy && <Spinner size="tiny" label="Registering…" />}
              <Button type="button" appearance="secondary" onClick={() => onOpenChange(false)} disabledFocusable={action.busy}>
                Cancel
              </Button>
              <Button type="submit" appearance="primary" disabledFocusable={action.busy}>
                Register as a new machine
              </Button>
            </DialogActions>
          </DialogBody>
        </form>
      </DialogSurface>
    </Dialog>
  );
}

function RegisteredDetails({ state }: { state: DesktopState }) {
  const styles = useLayoutStyles();
  const own = useStyles();
  const setState = useAppStore((s) => s.setState);
  const machine = state.machine!;
  const [name, setName] = useState(machine.name);
  const [description, setDescription] = useState(machine.description);
  const [reRegisterOpen, setReRegisterOpen] = useState(false);
  const action = useAction();
  const restoreFocusTarget = useRestoreFocusTarget();
  const nameError = validateName(name);
  const changed = name.trim() !== machine.name || description.trim() !== machine.description;
  const connection = CONNECTION_LABEL[state.connection];

  useEffect(() => {
    setName(machine.name);
    setDescription(machine.description);
  }, [machine.id, machine.name, machine.description]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (nameError || action.busy) return;
    const outcome = await action.run(() => getRuntime().updateMachine({ name: name.trim(), description: description.trim() }), {
      success: 'Machine details saved',
      failure: 'Could not save the machine details',
    });
    if (outcome.ok) setState(outcome.result);
  };

  return (
    <>
      {state.cloneWarning && (
        <MessageBar intent="error" layout="multiline" role="alert">
          <MessageBarBody>
            <MessageBarTitle>
              {state.cloneWarning.code === 'MachineCloned'
                ? 'This machine looks like a copy of another machine'
                : 'This machine is connected from another session'}
            </MessageBarTitle>
            {state.cloneWarning.message} A copied virtual machine must be registered as a new machine.
          </MessageBarBody>
          <MessageBarActions>
            <Button onClick={() => setReRegisterOpen(true)} {...restoreFocusTarget}>
              Register as a new machine
            </Button>
          </MessageBarActions>
        </MessageBar>
      )}
      {!state.cloneWarning && (
        <MessageBar intent="success">
          <MessageBarBody>Your machine has been registered.</MessageBarBody>
        </MessageBar>
      )}
      <Subtitle1 as="h2">Connection</Subtitle1>
      <dl className={own.facts}>
        <dt className={own.term}>Connection state</dt>
        <dd className={own.value}>
          <Badge appearance="tint" color={connection.color}>
            {connection.text}
          </Badge>
        </dd>
        <dt className={own.term}>Last heartbeat</dt>
        <dd className={own.value}>{formatTime(state.lastHeartbeatAt)}</dd>
        <dt className={own.term}>Machine environment</dt>
        <dd className={own.value}>{machine.environmentName}</dd>
        <dt className={own.term}>Machine group</dt>
        <dd className={own.value}>{state.group?.name ?? 'Not in a group'}</dd>
        <dt className={own.term}>Server</dt>
        <dd className={own.value}>{state.serverUrl ?? '—'}</dd>
      </dl>
      <form className={styles.form} onSubmit={submit} aria-labelledby="machine-details-title" noValidate>
        <Subtitle1 as="h2" id="machine-details-title">
          Machine details
        </Subtitle1>
        <Field label="Machine name" required validationState={nameError ? 'error' : 'none'} validationMessage={nameError}>
          <Input value={name} onChange={(_e, d) => setName(d.value)} maxLength={100} />
        </Field>
        <Field label="Machine description">
          <Textarea value={description} onChange={(_e, d) => setDescription(d.value)} maxLength={2000} resize="vertical" />
        </Field>
        <div className={styles.actions}>
          <Button type="submit" appearance="primary" disabledFocusable={action.busy || !changed || Boolean(nameError)}>
            Save
          </Button>
          {action.busy && <Spinner size="tiny" label="Saving…" />}
          <Button type="button" onClick={() => setReRegisterOpen(true)} {...restoreFocusTarget}>
            Re-register
          </Button>
        </div>
      </form>
      {state.user && <MachineRuns machineName={machine.name} />}
      <ReRegisterDialog state={state} open={reRegisterOpen} onOpenChange={setReRegisterOpen} />
    </>
  );
}

export function MachineSettingsScreen({ state }: { state: DesktopState }) {
  const styles = useLayoutStyles();
  return (
    <section className={styles.section} aria-labelledby="page-title">
      <PageHeader
        title="Machine settings"
        subtitle={state.machine ? `${state.machine.name} is registered in ${state.machine.environmentName}.` : 'Register this machine with the cloud.'}
      />
      {state.machine ? <RegisteredDetails key={state.machine.id} state={state} /> : <RegisterForm state={state} />}
    </section>
  );
}
