/**
 * Sign in: server address (prefilled), email, password. When the server has no administrator
 * yet, the same screen becomes "Set up this server" (display name, email, password twice).
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { Button, Field, Input, MessageBar, MessageBarBody, MessageBarTitle, Spinner, Subtitle1 } from '@fluentui/react-components';
import type { DesktopState } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { describeError } from '../../api/error-messages.ts';
import { PageHeader, useLayoutStyles } from '../../app/layout.tsx';
import { useAction } from '../../app/use-action.ts';

const URL_PATTERN = /^https?:\/\/[^\s/]+/i;

type ServerCheck = { status: 'idle' | 'checking' } | { status: 'fresh' } | { status: 'ready' } | { status: 'error'; message: string };

export function SignInScreen({ state, onDone }: { state: DesktopState; onDone: (state: DesktopState) => void }) {
  const styles = useLayoutStyles();
  const [serverUrl, setServerUrl] = useState(state.serverUrl ?? '');
  const [email, setEmail] = useState(state.user?.email ?? '');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [check, setCheck] = useState<ServerCheck>({ status: 'idle' });
  const [submitted, setSubmitted] = useState(false);
  const action = useAction();
  const headingId = useId();

  const trimmedUrl = serverUrl.trim().replace(/\/+$/, '');
  const urlValid = URL_PATTERN.test(trimmedUrl);

  useEffect(() => {
    if (!urlValid) {
      setCheck({ status: 'idle' });
      return;
    }
    let cancelled = false;
    setCheck({ status: 'checking' });
    const timer = setTimeout(() => {
      getRuntime()
        .needsSetup({ serverUrl: trimmedUrl })
        .then(
          (answer) => !cancelled && setCheck({ status: answer.needsSetup ? 'fresh' : 'ready' }),
          (error: unknown) => !cancelled && setCheck({ status: 'error', message: describeError(error) }),
        );
    }, 400);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [trimmedUrl, urlValid]);

  const setUp = check.status === 'fresh';
  const emailError = submitted && !/^\S+@\S+\.?\S*$/.test(email.trim()) ? 'Enter an email address.' : undefined;
  const passwordError = submitted
    ? !password
      ? 'Enter a password.'
      : setUp && password.length < 8
        ? 'Use at least 8 characters.'
        : undefined
    : undefined;
  const confirmError = submitted && setUp && confirm !== password ? 'The passwords do not match.' : undefined;
  const nameError = submitted && setUp && !displayName.trim() ? 'Enter your name.' : undefined;
  const urlError = submitted && !urlValid ? 'Enter the server address, e.g. https://runtime.example.com.' : undefined;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (action.busy) return;
    setSubmitted(true);
    if (!urlValid || emailError || passwordError || confirmError || nameError || !email.trim() || !password) return;
    if (setUp && (password.length < 8 || confirm !== password || !displayName.trim())) return;
    const outcome = setUp
      ? await action.run(
          () => getRuntime().setupServer({ serverUrl: trimmedUrl, email: email.trim(), password, displayName: displayName.trim() }),
          { failure: 'Could not set up the server', toastOnFailure: false },
        )
      : await action.run(() => getRuntime().signIn({ serverUrl: trimmedUrl, email: email.trim(), password }), {
          failure: 'Could not sign in',
          toastOnFailure: false,
        });
    if (outcome.ok) onDone(outcome.result);
  };

  const wrongCredentials = action.failure?.code === 'Unauthorized';

  return (
    <section className={styles.section} aria-labelledby="page-title">
      <PageHeader
        title={setUp ? 'Set up this server' : 'Sign in'}
        subtitle={
          setUp
            ? 'This server has no administrator yet. Create the first account: it administers the server.'
            : 'Sign in to register this machine and add it to machine groups.'
        }
      />
      <form className={styles.form} onSubmit={submit} aria-labelledby={headingId} noValidate>
        <Subtitle1 as="h2" id={headingId}>
          {setUp ? 'First administrator' : 'Your account'}
        </Subtitle1>
        <Field
          label="Server address"
          required
          validationState={urlError || check.status === 'error' ? 'error' : check.status === 'fresh' ? 'warning' : 'none'}
          validationMessage={
            urlError ??
            (check.status === 'error'
              ? check.message
              : check.status === 'fresh'
                ? 'This server is new: set it up below.'
                : check.status === 'checking'
                  ? 'Checking the server…'
                  : undefined)
          }
        >
          <Input type="url" value={serverUrl} onChange={(_e, d) => setServerUrl(d.value)} autoComplete="url" />
        </Field>
        {setUp && (
          <Field label="Display name" required validationState={nameError ? 'error' : 'none'} validationMessage={nameError}>
            <Input value={displayName} onChange={(_e, d) => setDisplayName(d.value)} autoComplete="name" maxLength={100} />
          </Field>
        )}
        <Field label="Email" required validationState={emailError ? 'error' : 'none'} validationMessage={emailError}>
          <Input type="email" value={email} onChange={(_e, d) => setEmail(d.value)} autoComplete="username" maxLength={254} />
        </Field>
        <Field
          label="Password"
          required
          validationState={passwordError || wrongCredentials ? 'error' : 'none'}
          validationMessage={passwordError ?? (wrongCredentials ? 'The email or password is incorrect.' : undefined)}
        >
          <Input
            type="password"
            value={password}
            onChange={(_e, d) => setPassword(d.value)}
            autoComplete={setUp ? 'new-password' : 'current-password'}
            maxLength={256}
          />
        </Field>
        {setUp && (
          <Field label="Confirm password" required validationState={confirmError ? 'error' : 'none'} validationMessage={confirmError}>
            <Input type="password" value={confirm} onChange={(_e, d) => setConfirm(d.value)} autoComplete="new-password" maxLength={256} />
          </Field>
        )}
        {action.failure && !wrongCredentials && (
          <MessageBar intent="error" role="alert">
            <MessageBarBody>
              <MessageBarTitle>{setUp ? 'The server was not set up.' : 'You are not signed in.'}</MessageBarTitle>
              {action.failure.message}
            </MessageBarBody>
          </MessageBar>
        )}
        <div className={styles.actions}>
          <Button type="submit" appearance="primary" disabledFocusable={action.busy}>
            {setUp ? 'Set up this server' : 'Sign in'}
          </Button>
          {action.busy && <Spinner size="tiny" label={setUp ? 'Setting up…' : 'Signing in…'} />}
        </div>
      </form>
    </section>
  );
}
