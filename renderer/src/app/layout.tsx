/** Shared pieces of the screens' layout. */
import type { ReactNode } from 'react';
import { Body1, Title2, makeStyles, tokens } from '@fluentui/react-components';

const useStyles = makeStyles({
  header: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXS, marginBottom: tokens.spacingVerticalL },
  subtitle: { color: tokens.colorNeutralForeground2 },
  section: {
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalM,
    maxWidth: '640px',
  },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  actions: { display: 'flex', gap: tokens.spacingHorizontalS, alignItems: 'center', flexWrap: 'wrap' },
});

export function PageHeader({ title, subtitle, children }: { title: string; subtitle?: ReactNode; children?: ReactNode }) {
  const styles = useStyles();
  return (
    <header className={styles.header}>
      <Title2 as="h1" id="page-title">
        {title}
      </Title2>
      {subtitle && <Body1 className={styles.subtitle}>{subtitle}</Body1>}
      {children}
    </header>
  );
}

export const useLayoutStyles = useStyles;
