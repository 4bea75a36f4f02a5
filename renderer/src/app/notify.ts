/** Toasts: one Toaster in the shell, `useNotify()` everywhere. */
import { createElement, useMemo } from 'react';
import { Toast, ToastBody, ToastTitle, useToastController } from '@fluentui/react-components';
import { describeError } from '../api/error-messages.ts';

export const TOASTER_ID = 'machine-runtime-toaster';

export function useNotify() {
  const { dispatchToast } = useToastController(TOASTER_ID);
  return useMemo(() => {
  const show = (intent: 'success' | 'error' | 'info' | 'warning', title: string, body?: string) =>
    dispatchToast(
      createElement(Toast, null, createElement(ToastTitle, null, title), body ? createElement(ToastBody, null, body) : null),
      { intent, timeout: intent === 'error' ? 8000 : 4000 },
    );
  return {
    success: (title: string, body?: string) => show('success', title, body),
    info: (title: string, body?: string) => show('info', title, body),
    failure: (title: string, error: unknown) => show('error', title, describeError(error)),
  };
  }, [dispatchToast]);
}
