/** The app's state as the runtime reports it, the current page, and the progress of long actions. */
import { create } from 'zustand';
import type { DesktopProgress, DesktopState } from '../../../protocol/desktop-api.ts';
import { getRuntime } from '../api/runtime.ts';
import { describeError } from '../api/error-messages.ts';

export type Page = 'sign-in' | 'machine-settings' | 'machine-groups' | 'troubleshoot';

interface AppStore {
  state: DesktopState | null;
  loadError: string | null;
  page: Page;
  progress: DesktopProgress | null;
  setPage(page: Page): void;
  setState(state: DesktopState): void;
  load(): Promise<void>;
  /** Subscribes to the runtime's events; returns the unsubscribe. */
  listen(): () => void;
}

export const useAppStore = create<AppStore>()((set, get) => ({
  state: null,
  loadError: null,
  page: 'machine-settings',
  progress: null,
  setPage: (page) => set({ page }),
  setState: (state) => {
    const previous = get().state;
    set({ state, loadError: null });
    // Signing in lands on Machine settings; signing out on Sign in.
    if (!previous?.user && state.user && get().page === 'sign-in') set({ page: 'machine-settings' });
  },
  load: async () => {
    try {
      get().setState(await getRuntime().getState());
    } catch (error) {
      set({ loadError: describeError(error) });
    }
  },
  listen: () => {
    const runtime = getRuntime();
    const offState = runtime.on('stateChanged', (state) => get().setState(state));
    const offProgress = runtime.on('progress', (progress) => set({ progress: progress.done ? null : progress }));
    return () => {
      offState();
      offProgress();
    };
  },
}));

/** The progress message of one operation, while it runs. */
export const useProgressOf = (operation: string): string | null =>
  useAppStore((s) => (s.progress?.operation === operation ? s.progress.message : null));
