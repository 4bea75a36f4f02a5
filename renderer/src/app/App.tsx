/** The shell: theme, toaster, left navigation and the current screen. */
import { useEffect } from 'react';
import {
  Body1,
  Button,
  Caption1,
  FluentProvider,
  MessageBar,
  MessageBarBody,
  Nav,
  NavItem,
  Spinner,
  Toaster,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import {
  DesktopRegular,
  GroupRegular,
  PersonRegular,
  SignOutRegular,
  WrenchRegular,
} from '@fluentui/react-icons';
import { useAppStore, type Page } from '../stores/app-store.ts';
import { useGroupsStore } from '../stores/groups-store.ts';
import { getRuntime } from '../api/runtime.ts';
import { SignInScreen } from '../features/sign-in/SignInScreen.tsx';
import { MachineSettingsScreen } from '../features/machine-settings/MachineSettingsScreen.tsx';
import { MachineGroupsScreen } from '../features/machine-groups/MachineGroupsScreen.tsx';
import { TroubleshootScreen } from '../features/troubleshoot/TroubleshootScreen.tsx';
import { TOASTER_ID, useNotify } from './notify.ts';
import { useOsTheme } from './theme.ts';
import { useAction } from './use-action.ts';

const useStyles = makeStyles({
  // Layout lives on a div inside FluentProvider: the provider's className is copied onto portal
  // mount nodes (dialogs, menus, toasts), which must not get a full-height background.
  shell: { height: '100vh', display: 'flex', backgroundColor: tokens.colorNeutralBackground2, color: tokens.colorNeutralForeground1 },
  sidebar: {
    width: '248px',
    flexShrink: 0,
    display: 'flex',
    flexDirection: 'column',
    backgroundColor: tokens.colorNeutralBackground4,
    borderRight: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
  },
  nav: { flexGrow: 1, paddingInline: tokens.spacingHorizontalS },
  product: {
    display: 'flex',
    alignItems: 'center',
    gap: tokens.spacingHorizontalS,
    padding: `${tokens.spacingVerticalL} ${tokens.spacingHorizontalL}`,
    fontWeight: tokens.fontWeightSemibold,
    fontSize: tokens.fontSizeBase400,
  },
  logo: { width: '24px', height: '24px' },
  footer: {
    display: 'flex',
    flexDirection: 'column',
    alignItems: 'flex-start',
    gap: tokens.spacingVerticalS,
    padding: `${tokens.spacingVerticalM} ${tokens.spacingHorizontalM}`,
    borderTop: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
  },
  account: { display: 'flex', flexDirection: 'column', paddingInline: tokens.spacingHorizontalS, overflow: 'hidden' },
  ellipsis: { whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' },
  main: {
    flexGrow: 1,
    minWidth: 0,
    display: 'flex',
    flexDirection: 'column',
    overflow: 'auto',
    padding: `${tokens.spacingVerticalXXL} ${tokens.spacingHorizontalXXXL}`,
    backgroundColor: tokens.colorNeutralBackground1,
  },
  center: { margin: 'auto' },
});

function Logo({ className }: { className: string }) {
  return (
    <svg className={className} viewBox="0 0 24 24" aria-hidden="true">
      <rect x="2" y="4" width="20" height="13" rx="2" fill="#0f6cbd" />
      <rect x="9" y="18" width="6" height="2" fill="#0f6cbd" />
      <path d="M8 10.5l2.5 2.5L16 8" stroke="#fff" strokeWidth="2" fill="none" strokeLinecap="round" />
    </svg>
  );
}

function AppShell() {
  const styles = useStyles();
  const { state, loadError, page, setPage, setState, load, listen } = useAppStore();
  const clearGroups = useGroupsStore((s) => s.clear);
  const notify = useNotify();
  const signOut = useAction();

  useEffect(() => {
    const unsubscribe = listen();
    void load();
    return unsubscribe;
  }, [listen, load]);

  if (!state) {
    return (
      <main className={styles.main} aria-label="Machine Runtime">
        {loadError ? (
          <MessageBar intent="error" className={styles.center}>
            <MessageBarBody>Machine Runtime is not available. {loadError}</MessageBarBody>
          </MessageBar>
        ) : (
          <Spinner className={styles.center} label="Starting Machine Runtime…" />
        )}
      </main>
    );
  }

  const signedIn = state.user !== null;
  const shown: Page = !signedIn && page !== 'troubleshoot' ? 'sign-in' : signedIn && page === 'sign-in' ? 'machine-settings' : page;

  const onSignOut = async () => {
    const outcome = await signOut.run(() => getRuntime().signOut(), { success: 'Signed out', failure: 'Could not sign out' });
    if (outcome.ok) {
      setState(outcome.result);
      clearGroups();
      setPage('sign-in');
    }
  };

  return (
    <>
      <header className={styles.sidebar}>
        <div className={styles.product}>
          <Logo className={styles.logo} />
          Machine Runtime
        </div>
        <nav aria-label="Main" className={styles.nav}>
          <Nav selectedValue={shown} onNavItemSelect={(_event, data) => setPage(data.value as Page)} className={styles.nav}>
            {signedIn ? (
              <>
                <NavItem icon={<DesktopRegular />} value="machine-settings">
                  Machine settings
                </NavItem>
                <NavItem icon={<GroupRegular />} value="machine-groups">
                  Machine groups
                </NavItem>
              </>
            ) : (
              <NavItem icon={<PersonRegular />} value="sign-in">
                Account
              </NavItem>
            )}
            <NavItem icon={<WrenchRegular />} value="troubleshoot">
              Troubleshoot
            </NavItem>
          </Nav>
        </nav>
        {state.user && (
          <div className={styles.footer}>
            <div className={styles.account}>
              <Body1 className={styles.ellipsis}>{state.user.displayName}</Body1>
              <Caption1 className={styles.ellipsis}>{state.user.email}</Caption1>
            </div>
            <Button icon={<SignOutRegular />} appearance="subtle" onClick={onSignOut} disabledFocusable={signOut.busy}>
              {signOut.busy ? 'Signing out…' : 'Sign out'}
            </Button>
          </div>
        )}
      </header>
      <main className={styles.main} aria-labelledby="page-title">
        {shown === 'sign-in' && <SignInScreen state={state} onDone={(next) => { setState(next); notify.success(`Signed in as ${next.user?.displayName ?? ''}`); }} />}
        {shown === 'machine-settings' && <MachineSettingsScreen state={state} />}
        {shown === 'machine-groups' && <MachineGroupsScreen state={state} />}
        {shown === 'troubleshoot' && <TroubleshootScreen state={state} />}
      </main>
    </>
  );
}

export function App() {
  const styles = useStyles();
  const theme = useOsTheme();
  return (
    <FluentProvider theme={theme}>
      <Toaster toasterId={TOASTER_ID} position="bottom-end" pauseOnHover pauseOnWindowBlur />
      <div className={styles.shell}>
        <AppShell />
      </div>
    </FluentProvider>
  );
}
