/**
 * The group dialogs: create, join (or change group), leave, edit password, edit details,
 * delete. Each is a `<form>` inside `DialogSurface`, with `Field` validation, progress while it
 * runs, a toast when it ends and the problem named inline when it fails.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import {
  Body1,
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  MessageBarTitle,
  Spinner,
  Textarea,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { NEW_GROUP_PASSWORD_MIN_LENGTH } from '../../../../protocol/desktop-api-names.ts';
import type { DesktopGroup, DesktopState } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { useAction, type ActionFailure } from '../../app/use-action.ts';
import { useAppStore, useProgressOf } from '../../stores/app-store.ts';
import { useGroupsStore } from '../../stores/groups-store.ts';

const useStyles = makeStyles({
  content: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  progress: { minHeight: '20px' },
});

interface FormDialogProps {
  open: boolean;
  onClose: () => void;
  title: string;
  submitLabel: string;
  busyLabel: string;
  busy: boolean;
  failure: ActionFailure | null;
  /** Shown instead of the generic failure bar when a field shows the failure itself. */
  failureShownInline?: boolean;
  onSubmit: () => void;
  children: ReactNode;
}

function FormDialog(props: FormDialogProps) {
  const styles = useStyles();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!props.busy) props.onSubmit();
  };
  return (
    <Dialog open={props.open} modalType="modal" onOpenChange={(_e, data) => !data.open && !props.busy && props.onClose()}>
      <DialogSurface>
        <form onSubmit={submit} noValidate>
          <DialogBody>
            <DialogTitle>{props.title}</DialogTitle>
            <DialogContent className={styles.content}>
              {props.children}
              {props.failure && !props.failureShownInline && (
                <MessageBar intent="error" role="alert">
                  <MessageBarBody>{props.failure.message}</MessageBarBody>
                </MessageBar>
              )}
              <div role="status" className={styles.progress}>
                {props.busy && <Spinner size="tiny" labelPosition="after" label={props.busyLabel} />}
              </div>
            </DialogContent>
            <DialogActions>
              <Button type="button" appearance="secondary" onClick={props.onClose} disabledFocusable={props.busy}>
                Cancel
              </Button>
              <Button type="submit" appearance="primary" disabledFocusable={props.busy}>
                {props.submitLabel}
              </Button>
            </DialogActions>
          </DialogBody>
        </form>
      </DialogSurface>
    </Dialog>
  );
}

function nameProblem(name: string): string | undefined {
  if (!name.trim()) return 'Enter a name for the group.';
  if (name.length > 100) return 'Use at most 100 characters.';
  return undefined;
}

export function CreateGroupDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [submitted, setSubmitted] = useState(false);
  const upsert = useGroupsStore((s) => s.upsert);
  const action = useAction();
  const problem = submitted ? nameProblem(name) : undefined;
  const nameTaken = action.failure?.code === 'NameTaken';

  const close = () => {
    setName('');
    setDescription('');
    setSubmitted(false);
    action.clearFailure();
    onClose();
  };
  const submit = async () => {
    setSubmitted(true);
    if (nameProblem(name)) return;
    const outcome = await action.run(() => getRuntime().createGroup({ name: name.trim(), description: description.trim() }), {
      success: (group) => `Group ${group.name} created`,
      failure: 'Could not create the group',
      toastOnFailure: false,
    });
    if (outcome.ok) {
      upsert(outcome.result);
      close();
    }
  };

  return (
    <FormDialog
      open={open}
      onClose={close}
      title="Create a new group"
      submitLabel="Create"
      busyLabel="Creating…"
      busy={action.busy}
      failure={action.failure}
      failureShownInline={nameTaken}
      onSubmit={submit}
    >
      <Field
        label="Name"
        required
        validationState={problem || nameTaken ? 'error' : 'none'}
        validationMessage={problem ?? (nameTaken ? action.failure?.message : undefined)}
      >
        <Input value={name} onChange={(_e, d) => setName(d.value)} maxLength={100} />
      </Field>
      <Field label="Description" hint="Optional">
        <Textarea value={description} onChange={(_e, d) => setDescription(d.value)} maxLength={2000} resize="vertical" />
      </Field>
    </FormDialog>
  );
}

function newPasswordProblems(password: string, confirm: string, submitted: boolean) {
  if (!submitted) return { password: undefined, confirm: undefined };
  return {
    password:
      password.length < NEW_GROUP_PASSWORD_MIN_LENGTH ? `Use at least ${NEW_GROUP_PASSWORD_MIN_LENGTH} characters.` : undefined,
    confirm: confirm !== password ? 'The passwords do not match.' : undefined,
  };
}

/** Finish a membership change: the state the runtime returned, the list reloaded (counts change). */
function useMembershipDone() {
  const setState = useAppStore((s) => s.setState);
  const load = useGroupsStore((s) => s.load);
  return (state: DesktopState) => {
    setState(state);
    void load();
  };
}

export function JoinGroupDialog({ group, state, onClose }: { group: DesktopGroup; state: DesktopState; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [submitted, setSubmitted] = useState(false);
  const action = useAction();
  const progress = useProgressOf('joinGroup');
  const done = useMembershipDone();
  const firstMachine = !group.hasPassword;
  const moving = state.group !== null && state.group.id !== group.id;
  const problems = firstMachine ? newPasswordProblems(password, confirm, submitted) : { password: submitted && !password ? 'Enter the group password.' : undefined, confirm: undefined };
  const wrongPassword = action.failure?.code === 'IncorrectGroupPassword';

  const submit = async () => {
    setSubmitted(true);
    if (firstMachine ? password.length < NEW_GROUP_PASSWORD_MIN_LENGTH || confirm !== password : !password) return;
    const outcome = await action.run(() => getRuntime().joinGroup({ groupId: group.id, password }), {
      success: moving ? `This machine moved to ${group.name}` : `This machine was added to ${group.name}`,
      failure: moving ? 'Could not change the group' : 'Could not add this machine',
      toastOnFailure: false,
    });
    if (outcome.ok) {
      done(outcome.result);
      onClose();
    }
  };

  return (
    <FormDialog
      open
      onClose={onClose}
      title={moving ? 'Change machine group' : `Add this machine to ${group.name}`}
      submitLabel={moving ? 'Change group' : 'Add machine'}
      busyLabel={progress ?? (moving ? 'Changing group…' : 'Adding machine…')}
      busy={action.busy}
      failure={action.failure}
      failureShownInline={wrongPassword}
      onSubmit={submit}
    >
      {moving && (
        <Body1>
          This machine will leave <strong>{state.group!.name}</strong> and join <strong>{group.name}</strong>. It stops taking runs
          for {state.group!.name} and forgets that group's key.
        </Body1>
      )}
      <Body1>Connections that target this machine directly will break; update them to target the machine group.</Body1>
      {firstMachine ? (
        <>
          <MessageBar intent="warning">
            <MessageBarBody>
              <MessageBarTitle>This group has no password yet</MessageBarTitle>
              You are adding its first machine: create the group password. It limits who can add machines to the group. Keep it
              safe — it cannot be recovered.
            </MessageBarBody>
          </MessageBar>
          <Field label="New password" required validationState={problems.password ? 'error' : 'none'} validationMessage={problems.password}>
            <Input type="password" value={password} onChange={(_e, d) => setPassword(d.value)} autoComplete="new-password" maxLength={256} />
          </Field>
          <Field label="Confirm password" required validationState={problems.confirm ? 'error' : 'none'} validationMessage={problems.confirm}>
            <Input type="password" value={confirm} onChange={(_e, d) => setConfirm(d.value)} autoComplete="new-password" maxLength={256} />
          </Field>
        </>
      ) : (
        <Field
          label="Group password"
          required
          validationState={problems.password || wrongPassword ? 'error' : 'none'}
          validationMessage={wrongPassword ? action.failure?.message : problems.password}
        >
          <Input
            type="password"
            value={password}
            onChange={(_e, d) => {
              setPassword(d.value);
              if (wrongPassword) action.clearFailure();
            }}
            autoComplete="off"
            maxLength={256}
          />
        </Field>
      )}
    </FormDialog>
  );
}

export function LeaveGroupDialog({ group, onClose }: { group: DesktopGroup; onClose: () => void }) {
  const action = useAction();
  const done = useMembershipDone();
  const submit = async () => {
    const outcome = await action.run(() => getRuntime().leaveGroup(), {
      success: `This machine left ${group.name}`,
      failure: 'Could not leave the group',
      toastOnFailure: false,
    });
    if (outcome.ok) {
      done(outcome.result);
      onClose();
    }
  };
  return (
    <FormDialog open onClose={onClose} title={`Leave ${group.name}?`} submitLabel="Leave group" busyLabel="Leaving…" busy={action.busy} failure={action.failure} onSubmit={submit}>
      <Body1>
        This machine leaves the group and forgets the group key. It no longer takes runs queued for {group.name}; to join again you
        will need the group password.
      </Body1>
    </FormDialog>
  );
}

export function EditGroupPasswordDialog({ group, onClose }: { group: DesktopGroup; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [submitted, setSubmitted] = useState(false);
  const action = useAction();
  const progress = useProgressOf('changeGroupPassword');
  const problems = newPasswordProblems(password, confirm, submitted);

  const submit = async () => {
    setSubmitted(true);
    if (password.length < NEW_GROUP_PASSWORD_MIN_LENGTH || confirm !== password) return;
    const outcome = await action.run(() => getRuntime().changeGroupPassword({ groupId: group.id, newPassword: password }), {
      success: `The password of ${group.name} was changed`,
      failure: 'Could not change the group password',
      toastOnFailure: false,
    });
    if (outcome.ok) onClose();
  };

  return (
    <FormDialog open onClose={onClose} title="Edit group password" submitLabel="Change" busyLabel={progress ?? 'Changing the password…'} busy={action.busy} failure={action.failure} onSubmit={submit}>
      <Body1>
        Machines already in {group.name} keep working. Machines added from now on need the new password, which cannot be recovered.
      </Body1>
      <Field label="New password" required validationState={problems.password ? 'error' : 'none'} validationMessage={problems.password}>
        <Input type="password" value={password} onChange={(_e, d) => setPassword(d.value)} autoComplete="new-password" maxLength={256} />
      </Field>
      <Field label="Confirm password" required validationState={problems.confirm ? 'error' : 'none'} validationMessage={problems.confirm}>
        <Input type="password" value={confirm} onChange={(_e, d) => setConfirm(d.value)} autoComplete="new-password" maxLength={256} />
      </Field>
    </FormDialog>
  );
}

export function EditGroupDialog({ group, onClose }: { group: DesktopGroup; onClose: () => void }) {
  const [name, setName] = useState(group.name);
  const [description, setDescription] = useState(group.description);
  const [submitted, setSubmitted] = useState(false);
  const upsert = useGroupsStore((s) => s.upsert);
  const load = useAppStore((s) => s.load);
  const action = useAction();
  const problem = submitted ? nameProblem(name) : undefined;
  const nameTaken = action.failure?.code === 'NameTaken';

  const submit = async () => {
    setSubmitted(true);
    if (nameProblem(name)) return;
    const outcome = await action.run(() => getRuntime().editGroup({ groupId: group.id, name: name.trim(), description: description.trim() }), {
      success: 'Group details saved',
      failure: 'Could not save the group details',
      toastOnFailure: false,
    });
    if (outcome.ok) {
      upsert(outcome.result);
      void load(); // the current group's name may have changed
      onClose();
    }
  };

  return (
    <FormDialog open onClose={onClose} title="Edit details" submitLabel="Save" busyLabel="Saving…" busy={action.busy} failure={action.failure} failureShownInline={nameTaken} onSubmit={submit}>
      <Field label="Name" required validationState={problem || nameTaken ? 'error' : 'none'} validationMessage={problem ?? (nameTaken ? action.failure?.message : undefined)}>
        <Input value={name} onChange={(_e, d) => setName(d.value)} maxLength={100} />
      </Field>
      <Field label="Description">
        <Textarea value={description} onChange={(_e, d) => setDescription(d.value)} maxLength={2000} resize="vertical" />
      </Field>
    </FormDialog>
  );
}

export function DeleteGroupDialog({ group, onClose }: { group: DesktopGroup; onClose: () => void }) {
  const remove = useGroupsStore((s) => s.remove);
  const action = useAction();
  const submit = async () => {
    const outcome = await action.run(() => getRuntime().deleteGroup({ groupId: group.id }), {
      success: `Group ${group.name} deleted`,
      failure: 'Could not delete the group',
      toastOnFailure: false,
    });
    if (outcome.ok) {
      remove(group.id);
      onClose();
    }
  };
  return (
    <FormDialog open onClose={onClose} title={`Delete ${group.name}?`} submitLabel="Delete" busyLabel="Deleting…" busy={action.busy} failure={action.failure} onSubmit={submit}>
      <Body1>The group and its sharing are deleted. Connections that target it stop working. This cannot be undone.</Body1>
    </FormDialog>
  );
}
