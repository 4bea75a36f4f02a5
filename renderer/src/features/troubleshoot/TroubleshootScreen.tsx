/** Troubleshoot: connectivity checks, versions, where the logs are and a way to export them. */
import { useEffect, useState } from 'react';
import {
  Badge,
  Button,
  MessageBar,
  MessageBarBody,
  Spinner,
  Subtitle1,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { ArrowClockwiseRegular, ArrowExportRegular } from '@fluentui/react-icons';
import type { DesktopDiagnostics, DesktopState, SecretStoreKind } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { PageHeader, useLayoutStyles } from '../../app/layout.tsx';
import { useAction } from '../../app/use-action.ts';
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
  value: { margin: 0, wordBreak: 'break-all' },
  table: { maxWidth: '760px' },
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, marginTop: tokens.spacingVerticalL },
});

const SECRET_STORE_LABEL: Record<SecretStoreKind, string> = {
  keychain: 'OS keychain',
  file: 'A file readable by your account only (no keychain found)',
  memory: 'Memory only (nothing is kept)',
};

function formatSkew(ms: number | null): string {
  if (ms === null) return 'Unknown';
  const seconds = Math.abs(ms) / 1000;
  return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s ${ms >= 0 ? 'ahead of' : 'behind'} the server`;
}

export function TroubleshootScreen({ state }: { state: DesktopState }) {
  const layout = useLayoutStyles();
  const styles = useStyles();
  const [report, setReport] = useState<DesktopDiagnostics | null>(null);
  const [logsPath, setLogsPath] = useState<string | null>(null);
  const diagnostics = useAction();
  const exporting = useAction();
  const runDiagnostics = diagnostics.run;

  const run = async () => {
    const outcome = await runDiagnostics(() => getRuntime().runDiagnostics(), { failure: 'Could not run the diagnostics' });
    if (outcome.ok) setReport(outcome.result);
  };

  useEffect(() => {
    let cancelled = false;
    void runDiagnostics(() => getRuntime().runDiagnostics(), { failure: 'Could not run the diagnostics', toastOnFailure: false }).then(
      (outcome) => !cancelled && outcome.ok && setReport(outcome.result),
    );
    getRuntime()
      .getLogsLocation()
      .then(
        (location) => !cancelled && setLogsPath(location.path),
        () => !cancelled && setLogsPath(null),
      );
    return () => {
      cancelled = true;
    };
  }, [runDiagnostics]);

  const exportLogs = async () => {
    await exporting.run(() => getRuntime().exportLogs(), {
      success: (result) => `Logs exported to ${result.path}`,
      failure: 'Could not export the logs',
    });
  };

  const failed = report?.checks.filter((check) => !check.ok).length ?? 0;

  return (
    <section className={layout.section} aria-labelledby="page-title">
      <PageHeader title="Troubleshoot" subtitle="Check the connection to the cloud and collect what support needs." />

      <div className={styles.section}>
        <Subtitle1 as="h2">Connectivity</Subtitle1>
        <div className={layout.actions}>
          <Button icon={<ArrowClockwiseRegular />} onClick={run} disabledFocusable={diagnostics.busy}>
            Run diagnostics
          </Button>
          {diagnostics.busy && <Spinner size="tiny" label="Checking…" />}
        </div>
        {diagnostics.failure && (
          <MessageBar intent="error" role="alert">
            <MessageBarBody>{diagnostics.failure.message}</MessageBarBody>
          </MessageBar>
        )}
        {report && (
          <>
            <Text role="status">
              {failed === 0 ? 'All checks passed' : `${failed} of ${report.checks.length} checks failed`} ({formatTime(report.checkedAt)}).
            </Text>
            <Table className={styles.table} aria-label="Diagnostic results" size="small">
              <TableHeader>
                <TableRow>
                  <TableHeaderCell>Check</TableHeaderCell>
                  <TableHeaderCell>Result</TableHeaderCell>
                  <TableHeaderCell>Details</TableHeaderCell>
                </TableRow>
              </TableHeader>
              <TableBody>
                {report.checks.map((check) => (
                  <TableRow key={check.id}>
                    <TableCell>{check.name}</TableCell>
                    <TableCell>
                      <Badge appearance="tint" color={check.ok ? 'success' : 'danger'}>
                        {check.ok ? 'Passed' : 'Failed'}
                      </Badge>
                    </TableCell>
                    <TableCell>{check.detail}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
            <dl className={styles.facts}>
              <dt className={styles.term}>Server</dt>
              <dd className={styles.value}>{report.serverUrl ?? 'None configured'}</dd>
              <dt className={styles.term}>Clock</dt>
              <dd className={styles.value}>{formatSkew(report.clockSkewMs)}</dd>
            </dl>
          </>
        )}
      </div>

      <div className={styles.section}>
        <Subtitle1 as="h2">About</Subtitle1>
        <dl className={styles.facts}>
          <dt className={styles.term}>App version</dt>
          <dd className={styles.value}>{state.appVersion}</dd>
          <dt className={styles.term}>Runtime version</dt>
          <dd className={styles.value}>{state.runtimeVersion}</dd>
          <dt className={styles.term}>Secrets stored in</dt>
          <dd className={styles.value}>{SECRET_STORE_LABEL[state.secretStore]}</dd>
        </dl>
      </div>

      <div className={styles.section}>
        <Subtitle1 as="h2">Logs</Subtitle1>
        <dl className={styles.facts}>
          <dt className={styles.term}>Logs location</dt>
          <dd className={styles.value}>{logsPath ?? 'Unknown'}</dd>
        </dl>
        <div className={layout.actions}>
          <Button icon={<ArrowExportRegular />} onClick={exportLogs} disabledFocusable={exporting.busy}>
            Export logs
          </Button>
          {exporting.busy && <Spinner size="tiny" label="Exporting…" />}
        </div>
      </div>
    </section>
  );
}
