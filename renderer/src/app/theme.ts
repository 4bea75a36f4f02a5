/** Light or dark, as the OS says (prefers-color-scheme), following changes live. */
import { useSyncExternalStore } from 'react';
import { webDarkTheme, webLightTheme, type Theme } from '@fluentui/react-components';

const query = () => window.matchMedia('(prefers-color-scheme: dark)');

function subscribe(onChange: () => void): () => void {
  const media = query();
  media.addEventListener('change', onChange);
  return () => media.removeEventListener('change', onChange);
}

export function useOsTheme(): Theme {
  const dark = useSyncExternalStore(subscribe, () => query().matches);
  return dark ? webDarkTheme : webLightTheme;
}
